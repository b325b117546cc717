"""Load one solar date's Sentinel-2 L2A items onto the site grid, scaled and cloud-masked.

Each item is loaded on its own with ``odc.stac.load(geobox=<site grid>)`` (dask, chunked): odc-stac
reads only the COG windows that overlap the grid (HTTP range requests) and reprojects a scene of
another UTM zone onto it. Items are loaded one by one because their scale/offset may differ (a
date can mix processing baselines) and odc-stac returns raw DN: each item is converted to
reflectance with its own scale/offset (exactly once; ``sentinel2.offset`` chooses where the
offset comes from), checked for plausibility (:func:`aopflow.sentinel2.scaling.check_item`: the
share of its valid land pixels below zero, per band) and masked (any band's nodata, SCL in
``mask_classes``) *before* same-day items are merged, so a pixel cloudy in one scene can be filled
from the other. Merge order: items already in the grid's CRS first (their pixels are exact, no
resampling), then by time and id; the first valid value wins.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from aopflow.errors import DownloadError, InputDataError
from aopflow.sentinel2.grid import SiteGrid
from aopflow.sentinel2.scaling import (
    NEGATIVE_SHARE_MAX,
    SCL_ASSET,
    ItemCheck,
    Scaling,
    check_item,
    item_scalings,
    to_reflectance,
)
from aopflow.sentinel2.search import item_epsg, item_datetime

log = logging.getLogger(__name__)

# GDAL settings for COGs over HTTP: no directory listing on open, only .tif files probed,
# retries with a delay so a dropped connection or a 5xx mid-read recovers.
GDAL_HTTP_ENV = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.TIF,.tiff",
    "GDAL_HTTP_MAX_RETRY": "5",
    "GDAL_HTTP_RETRY_DELAY": "0.5",
    "GDAL_HTTP_TIMEOUT": "60",
    "GDAL_HTTP_MULTIPLEX": "YES",
    "VSI_CACHE": "TRUE",
    "GDAL_CACHEMAX": "128",  # MB of block cache: a job reads small windows, keep its memory small
}

# Third-party deprecation messages printed by odc-stac/odc-geo loads (not ours to fix; filtered
# only around the load call, by exact message start).
_THIRD_PARTY_WARNINGS = (
    (DeprecationWarning, r"The 'shapely\.ops\.transform\(\)' function is deprecated"),  # odc.geo.geom
    (PendingDeprecationWarning, r"Use `@` matmul instead of `\*` mul operator"),  # affine 3 via odc.geo
)


@dataclass
class DateProduct:
    """One date on the site grid: ``reflectance`` float32 (bands, rows, cols) with NaN where
    masked; ``bands`` asset keys; the items merged, the scale/offset applied to each and the
    plausibility check of each (``checks``, item order)."""

    reflectance: np.ndarray
    bands: list[str]
    items: list[str] = field(default_factory=list)
    scalings: dict[str, dict[str, Scaling]] = field(default_factory=dict)
    checks: list[ItemCheck] = field(default_factory=list)

    @property
    def valid(self) -> np.ndarray:
        return np.all(np.isfinite(self.reflectance), axis=0)

    def band(self, key: str) -> np.ndarray:
        return self.reflectance[self.bands.index(key)]

    def scaling_columns(self) -> dict[str, str]:
        """The date's scaling columns of ``summary.csv`` (see :mod:`aopflow.sentinel2.dates`):
        ``negative_share`` (the largest share of valid land pixels below zero over the items
        and bands, 6 decimals; empty when no item had a land pixel), ``scaling_flag``
        (``true`` when an item is suspect: a band above ``sentinel2.negative_share_max``, or a
        ``raster:bands`` offset that disagrees with the processing baseline), ``scaling_note``
        (the reasons) and ``scale_offset_applied`` (per item, the scale/offset used)."""
        shares = [v for c in self.checks for v in c.shares.values() if not math.isnan(v)]
        return {
            "negative_share": f"{max(shares):.6f}" if shares else "",
            "scaling_flag": str(any(c.suspect for c in self.checks)).lower(),
            "scaling_note": "; ".join(n for c in self.checks for n in c.notes()),
            "scale_offset_applied": " | ".join(f"{i}: " + ";".join(f"{b}:{s.label()}" for b, s in sc.items())
                                               for i, sc in self.scalings.items()),
        }


@contextlib.contextmanager
def quiet_third_party():
    with warnings.catch_warnings():
        for category, msg in _THIRD_PARTY_WARNINGS:
            warnings.filterwarnings("ignore", message=msg, category=category)
        yield


def _check_assets(item: dict, keys: Sequence[str]) -> None:
    missing = [k for k in keys if k not in item.get("assets", {})]
    if missing:
        raise InputDataError(
            f"item {item.get('id')}: asset(s) {missing} missing (it has {sorted(item.get('assets', {}))}); "
            "check sentinel2.bands (asset keys, e.g. red, nir) or drop the item's date."
        )


def _stac_cfg(bands: Sequence[str]) -> dict:
    # Data type and nodata stated, not guessed: an item without raster:bands loads the same way.
    assets = {b: {"data_type": "uint16", "nodata": 0} for b in bands}
    assets[SCL_ASSET] = {"data_type": "uint8", "nodata": 0}
    return {"*": {"assets": assets}}


def _diagnose(item: dict, keys: Sequence[str], err: Exception) -> DownloadError:
    """Which asset of ``item`` cannot be read (opened once more, header only)."""
    import rasterio

    for k in keys:
        href = item["assets"][k]["href"]
        try:
            with rasterio.Env(**{**GDAL_HTTP_ENV, "GDAL_CACHEMAX": 128}), rasterio.open(href) as src:
                src.read(1, window=((0, 1), (0, 1)))
        except Exception as e:  # noqa: BLE001 - any reader error names this asset
            return DownloadError(
                f"item {item.get('id')}, asset {k!r}: the COG {href} cannot be read ({e}). Check that the "
                "file exists on the server (HTTP 404?) and is a GeoTIFF; rerun once it is reachable."
            )
    return DownloadError(f"item {item.get('id')}: reading assets {list(keys)} failed ({type(err).__name__}: {err}).")


def load_item_dn(item: dict, grid: SiteGrid, bands: Sequence[str], *, threads: int = 1, chunk: int = 1024,
                 retries: int = 3, backoff: float = 1.0) -> dict[str, np.ndarray]:
    """Raw DN of ``bands`` + SCL of one item on ``grid``: asset key -> (rows, cols) array
    (uint16 bands, uint8 SCL; 0 outside the scene). Reflectance bands are resampled by
    nearest (average when the grid is coarser than the asset), SCL always by nearest.
    A failed read is retried ``retries`` times with backoff, then diagnosed per asset."""
    import dask
    import odc.stac
    import pystac

    keys = [*bands, SCL_ASSET]
    _check_assets(item, keys)
    resampling = {SCL_ASSET: "nearest"}
    for b in bands:
        gsd = item["assets"][b].get("gsd") or ((item["assets"][b].get("raster:bands") or [{}])[0]
                                               .get("spatial_resolution")) or 10
        resampling[b] = "average" if grid.resolution > float(gsd) else "nearest"
    with quiet_third_party():
        pitem = pystac.Item.from_dict(item, migrate=True)
    last: Exception | None = None
    for attempt in range(retries + 1):
        try:
            with quiet_third_party(), dask.config.set(scheduler="threads", num_workers=max(1, threads)):
                ds = odc.stac.load([pitem], bands=keys, geobox=grid.geobox(), groupby="solar_day",
                                   chunks={"x": chunk, "y": chunk}, resampling=resampling,
                                   stac_cfg=_stac_cfg(bands), fail_on_error=True)
                ds = ds.compute()
            return {k: ds[k].values[0] for k in keys}
        except Exception as e:  # noqa: BLE001 - GDAL/rasterio raise many types for network errors
            last = e
            log.warning("item %s: read attempt %d failed: %s", item.get("id"), attempt + 1, e)
            if attempt < retries:
                time.sleep(backoff * 2**attempt)
    raise _diagnose(item, keys, last)


def merge_order(items: Sequence[dict], grid: SiteGrid) -> list[dict]:
    """Items in the grid's CRS first (exact pixels), then by time and id."""
    return sorted(items, key=lambda it: (item_epsg(it) != grid.epsg, item_datetime(it), it["id"]))


def load_date(items: Sequence[dict], grid: SiteGrid, bands: Sequence[str], mask_classes: Sequence[int], *,
              offset: str = "metadata", negative_share_max: float = NEGATIVE_SHARE_MAX,
              threads: int = 1, max_connections: int = 4, chunk: int = 1024, retries: int = 3) -> DateProduct:
    """Reflectance of one date on ``grid`` (see module docstring). ``offset`` is
    ``sentinel2.offset`` and ``negative_share_max`` ``sentinel2.negative_share_max`` (see
    :mod:`aopflow.sentinel2.scaling`). ``threads`` dask threads read in parallel, at most
    ``max_connections`` at a time (each reading thread holds one connection)."""
    workers = max(1, min(threads, max_connections))
    out = np.full((len(bands), *grid.shape), np.nan, dtype=np.float32)
    filled = np.zeros(grid.shape, dtype=bool)
    prod = DateProduct(out, list(bands))
    mask_classes = np.asarray(sorted(set(int(c) for c in mask_classes)), dtype=np.int64)
    with _gdal_env(workers):
        for it in merge_order(items, grid):
            scal = item_scalings(it, bands, offset)
            dn = load_item_dn(it, grid, bands, threads=workers, chunk=chunk, retries=retries)
            refl = np.stack([to_reflectance(dn[b], scal[b]) for b in bands])
            scl = dn[SCL_ASSET]
            prod.checks.append(check_item(it, scal, dict(zip(bands, refl)), scl, max_share=negative_share_max))
            ok = np.all(np.isfinite(refl), axis=0) & (scl != 0) & ~np.isin(scl, mask_classes)
            take = ok & ~filled
            out[:, take] = refl[:, take]
            filled |= take
            prod.items.append(it["id"])
            prod.scalings[it["id"]] = scal
            log.info("item %s (EPSG:%s): %d valid pixel(s) on the grid, %d used", it["id"], item_epsg(it),
                     int(ok.sum()), int(take.sum()))
    return prod


@contextlib.contextmanager
def _gdal_env(max_connections: int):
    """GDAL HTTP settings for the load (process environment: odc-stac's reader threads see them)."""
    env = dict(GDAL_HTTP_ENV)
    env["GDAL_HTTP_MAX_CONNECTIONS"] = str(max_connections)  # hint honoured by newer GDAL builds
    no_proxy = os.environ.get("NO_PROXY", "")
    env["NO_PROXY"] = ",".join(filter(None, [no_proxy, "127.0.0.1", "localhost"]))
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def write_cog(path, data: np.ndarray, grid: SiteGrid, band_names: Sequence[str] | None = None,
              tags: dict | None = None, threads: int = 1):
    """Atomically write float32 ``data`` ((rows, cols) or (bands, rows, cols), NaN = nodata) as a
    Cloud-Optimized GeoTIFF on ``grid`` (DEFLATE level 1, predictor 3, internal overviews:
    level 1 writes faster than the default level 6 for files barely larger; the figures are in
    docs/performance.md, "Compression")."""
    from aopflow.raster import write_cog as write_raster_cog

    write_raster_cog(path, np.asarray(data, np.float32), crs=grid.crs, transform=grid.transform,
                     nodata=float("nan"), overview_resampling="nearest", band_names=band_names,
                     tags=tags, num_threads=max(1, int(threads)), level=1)
    return path
