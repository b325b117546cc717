"""Stage `mosaic` (rules/mosaic.smk): site mosaics as Cloud-Optimized GeoTIFFs.

Tiles of a NEON site sit on one 1 km grid with a common pixel size, so a mosaic is assembled by
copying each tile into its window of the output: memory stays at one tile, whatever the site
size. The assembled tiled GeoTIFF is then rewritten as a COG (internal tiling, DEFLATE,
overviews) by GDAL's COG driver.

The assembly gives the values, transform and no-data of ``rasterio.merge.merge`` (tiles with
differing no-data values included) and also keeps the band descriptions and tags;
``tests/test_mosaic.py`` proves it, and pins the cases where the two differ on purpose (a valid
pixel equal to the mosaic's no-data, overlapping tiles). Why aopflow keeps its own copy rather
than calling ``rasterio.merge``: ``docs/performance.md`` (``bench/bench_mosaic.py``).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.windows import Window

from aopflow.errors import SiteError
from aopflow.io import atomic_path
from aopflow.raster import GTIFF_OPTS, copy_as_cog, default_nodata, valid_mask

log = logging.getLogger(__name__)


def _near_int(v: float) -> bool:
    """Whether a tile's offset ``v`` (pixels from the mosaic origin) is a whole number of pixels."""
    return abs(v - round(v)) < 1e-6


def _same_nodata(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return a == b or (math.isnan(a) and math.isnan(b))


def _to_mosaic_nodata(data: np.ndarray, tile_nodata: float | None, nodata: float, path: Path) -> np.ndarray:
    """A tile's pixels ``(bands, rows, cols)`` with its own no-data replaced by the mosaic's.

    Tiles of one product may carry different no-data values (each HDF5 layer's own
    ``Data_Ignore_Value``); without this a tile's no-data would become data in the mosaic.
    """
    if _same_nodata(tile_nodata, nodata):
        return data
    valid = valid_mask(data, tile_nodata)
    if not np.all(valid_mask(data[valid], nodata)):
        raise SiteError(
            f"{path.name}: has no-data {tile_nodata} but some of its valid pixels equal "
            f"{nodata}, the no-data of the site mosaic (from the first tile): the tiles' "
            "no-data values conflict. Check the layer's Data_Ignore_Value in the .h5 files."
        )
    out = data.copy()
    out[~valid] = nodata
    return out


def _check_no_overlap(metas: list, left: float, top: float, res_x: float, res_y: float) -> None:
    """Stop when two tiles cover the same pixels: a mosaic takes each pixel from one tile.

    ``rasterio.merge`` would keep the first tile's valid pixels there; on a NEON site an
    overlap means the inputs are wrong (one tile twice, or tiles not on the 1 km grid), so no
    order-dependent choice is made silently.
    """
    c0 = np.array([round((m[2].c - left) / res_x) for m in metas])
    r0 = np.array([round((top - m[2].f) / res_y) for m in metas])
    c1 = c0 + np.array([m[3] for m in metas])
    r1 = r0 + np.array([m[4] for m in metas])
    over = ((c0[:, None] < c1[None]) & (c0[None] < c1[:, None])
            & (r0[:, None] < r1[None]) & (r0[None] < r1[:, None]))
    i, j = np.nonzero(np.triu(over, k=1))
    if i.size:
        a, b = int(i[0]), int(j[0])
        cols = min(c1[a], c1[b]) - max(c0[a], c0[b])
        rows = min(r1[a], r1[b]) - max(r0[a], r0[b])
        raise SiteError(
            f"{metas[a][0].name} and {metas[b][0].name} overlap ({cols} x {rows} pixels; "
            f"{i.size} overlapping pair(s) in all): a site mosaic takes each tile once and NEON "
            "tiles abut on the 1 km grid. Remove the duplicate tile from the inputs (e.g. a "
            "second file of the same tile in local.h5_dir)."
        )


def mosaic(
    paths: Sequence[str | os.PathLike],
    out_path: str | os.PathLike,
    *,
    resampling: str = "average",
    cog: bool = True,
) -> Path:
    """Merge same-grid tiles into one (Cloud-Optimized) GeoTIFF.

    All inputs must share CRS, pixel size, band count and dtype, lie on one pixel grid and not
    overlap; the output extent is the union of the tiles' bounds, pixels no tile covers are
    no-data. The mosaic's no-data is the first tile's (the dtype's default when it has none);
    each tile's own no-data pixels become the mosaic's. Band descriptions and tags are the
    first tile's. ``resampling`` is used for the overviews: ``average`` for continuous
    products, ``nearest``/``mode`` for class maps.
    """
    if not paths:
        raise SiteError(f"{out_path}: no tiles to mosaic (is the configured tile subset empty?)")
    metas = []
    for p in paths:
        with rasterio.open(p) as src:
            metas.append((Path(p), src.crs, src.transform, src.width, src.height, src.count,
                          src.dtypes[0], src.nodata, src.descriptions, src.tags()))
    p0, crs0, t0, _, _, count0, dtype0, nodata0, desc0, tags0 = metas[0]
    for p, crs, t, _, _, count, dtype, _, _, _ in metas[1:]:
        if crs != crs0:
            raise SiteError(
                f"Tiles of one site must share a CRS: {p0.name} is {crs0.to_string()} but "
                f"{p.name} is {crs.to_string()}. Process each UTM zone as its own site, or "
                "restrict 'tiles' to one zone."
            )
        if not (math.isclose(t.a, t0.a) and math.isclose(t.e, t0.e)):
            raise SiteError(
                f"Tiles of one site must share a pixel size: {p0.name} has {t0.a:g} m, "
                f"{p.name} has {t.a:g} m."
            )
        if count != count0 or dtype != dtype0:
            raise SiteError(
                f"Tiles differ in bands/dtype: {p0.name} ({count0}, {dtype0}) vs {p.name} "
                f"({count}, {dtype})."
            )
    res_x, res_y = t0.a, -t0.e
    left = min(m[2].c for m in metas)
    top = max(m[2].f for m in metas)
    right = max(m[2].c + m[3] * res_x for m in metas)
    bottom = min(m[2].f - m[4] * res_y for m in metas)
    width = int(round((right - left) / res_x))
    height = int(round((top - bottom) / res_y))
    transform = Affine(res_x, 0, left, 0, -res_y, top)
    nodata = nodata0 if nodata0 is not None else default_nodata(dtype0)
    _check_no_overlap(metas, left, top, res_x, res_y)
    out_path = Path(out_path)
    with atomic_path(out_path) as final_tmp:
        assembled = final_tmp.with_name(final_tmp.name + ".assemble.tif")
        try:
            with rasterio.open(
                assembled, "w", width=width, height=height, count=count0, dtype=dtype0, crs=crs0,
                transform=transform, nodata=nodata, **{**GTIFF_OPTS, "compress": "zstd"},
            ) as dst:
                fill = np.full((count0, min(height, 1024), width), nodata, dtype=dtype0)
                for r0 in range(0, height, fill.shape[1]):
                    h = min(fill.shape[1], height - r0)
                    dst.write(fill[:, :h], window=Window(0, r0, width, h))
                del fill
                for p, _, t, w, h, _, _, tile_nodata, *_ in metas:
                    col = (t.c - left) / res_x
                    row = (top - t.f) / res_y
                    if not (_near_int(col) and _near_int(row)):
                        raise SiteError(
                            f"{p.name} is not on the site's pixel grid (offset {col:.3f}, "
                            f"{row:.3f} pixels from the mosaic origin); NEON tiles align to whole pixels."
                        )
                    with rasterio.open(p) as src:
                        data = _to_mosaic_nodata(src.read(), tile_nodata, nodata, p)
                        dst.write(data, window=Window(int(round(col)), int(round(row)), w, h))
                for i, d in enumerate(desc0, 1):
                    if d:
                        dst.set_band_description(i, d)
                if tags0:
                    dst.update_tags(**tags0)
            if cog:
                copy_as_cog(assembled, final_tmp, overview_resampling=resampling)
            else:
                os.replace(assembled, final_tmp)
        finally:
            if assembled.exists():
                assembled.unlink()
    log.info("mosaic of %d tiles -> %s (%d x %d px)", len(paths), out_path, width, height)
    return out_path
