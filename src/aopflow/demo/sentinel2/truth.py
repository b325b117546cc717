"""Ground truth of the demo on the site grid: what a correct Sentinel-2 load must return.

Per site pixel (10 m) the value of the first of the date's scenes (the site's zone first)
whose pixel containing the site pixel centre has data, decoded as ``DN * 0.0001 + offset``
(float64, stored float32), i.e. what a nearest-neighbour load with "first valid" fusing
returns. At a coarser ``resolution`` that is a multiple of 10 m each pixel is the mean of its
10 m block, NaN if any of the block is masked (NDVI from the block-mean red and nir, by the
project's NDVI rule, :mod:`aopflow.ndvi`); at other
divisors of 1000 m (e.g. 25 m) the 10 m pixel holding the pixel centre.

Files per date: ``truth/{YYYY-MM-DD}/{reflectance,ndvi}.tif`` at the configured resolution
(float32, NaN where no scene has data or SCL is in ``mask_classes``; reflectance bands blue,
green, red, nir) and ``truth/{date}/native/{reflectance,scl,source}.tif`` at 10 m (unmasked
reflectance, the SCL class, and a bit mask of which of the date's scenes had data: bit k = the
date's k-th item in ``truth.json``). :func:`load_truth` recomputes a date's truth for other
mask classes and resolutions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import rasterio
from pyproj import Transformer

from aopflow.demo.aop import SiteSpec
from aopflow.demo.sentinel2.bands import BAND_KEYS
from aopflow.demo.sentinel2.encoding import SCALE
from aopflow.demo.sentinel2.grid import site_grid
from aopflow.errors import ConfigError
from aopflow.io import atomic_path
from aopflow.ndvi import normalized_difference

if TYPE_CHECKING:
    from aopflow.demo.sentinel2.scene import GeneratedScene


DEFAULT_MASK_CLASSES: tuple[int, ...] = (0, 1, 3, 8, 9, 10)


def check_resolution(resolution: float) -> float:
    res = float(resolution)
    n = 1000.0 / res if res > 0 else 0.0
    if res <= 0 or abs(n - round(n)) > 1e-9:
        raise ConfigError(
            f"sentinel2.resolution: {resolution!r} m does not divide the 1000 m AOP tile "
            "(e.g. 10, 20, 25, 50, 100)"
        )
    return res


def sample_truth(aop: SiteSpec, scenes: Sequence[GeneratedScene]):
    """Native (10 m) truth on the site grid from the scenes of one date (first with data wins)."""
    T, w, h = site_grid(aop, 10.0)
    xs = T.c + (np.arange(w) + 0.5) * 10.0
    ys = T.f - (np.arange(h) + 0.5) * 10.0
    X, Y = np.meshgrid(xs, ys)
    refl = np.full((len(BAND_KEYS), h, w), np.nan)
    scl = np.zeros((h, w), np.uint8)
    source = np.zeros((h, w), np.uint8)
    done = np.zeros((h, w), bool)
    for k, sc in enumerate(scenes):
        g = sc.grid
        if g.epsg != aop.epsg:
            px, py = Transformer.from_crs(aop.epsg, g.epsg, always_xy=True).transform(X, Y)
        else:
            px, py = X, Y
        col = np.floor((px - g.x0) / 10.0).astype(int)
        row = np.floor((g.y0 - py) / 10.0).astype(int)
        inside = (col >= 0) & (col < g.width) & (row >= 0) & (row < g.height)
        c, r = np.clip(col, 0, g.width - 1), np.clip(row, 0, g.height - 1)
        s_here = np.where(inside, sc.scl[r // 2, c // 2], 0)
        has = s_here != 0
        source |= (has.astype(np.uint8) << k)
        take = has & ~done
        for b, key in enumerate(BAND_KEYS):
            refl[b][take] = sc.dn[key][r[take], c[take]] * SCALE + sc.offset
        scl[take] = s_here[take]
        done |= take
    return refl, scl, source


def mask_and_aggregate(refl10: np.ndarray, scl10: np.ndarray, mask_classes: Iterable[int],
                       resolution: float) -> tuple[np.ndarray, np.ndarray]:
    """(reflectance (4, H, W), ndvi (H, W)) float64 at ``resolution`` from the native truth.

    NDVI follows the project's rule (:func:`aopflow.ndvi.normalized_difference`: no data where
    red or NIR is negative or both are zero), computed in float64, its values rounded to
    float32 (the dtype of the pipeline's NDVI).

    Masked where SCL is in ``mask_classes`` or there is no data. At a multiple of 10 m each
    pixel is the mean of its 10 m block, NaN if any of the block is masked; at other
    resolutions (e.g. 25 m) the 10 m pixel holding each pixel centre (a nearest sampling; such
    centres never fall on a 10 m pixel edge).
    """
    r = refl10.copy()
    r[:, np.isin(scl10, list(mask_classes)) | (scl10 == 0)] = np.nan
    k = resolution / 10.0
    nb, h, w = r.shape
    if abs(k - round(k)) < 1e-9:
        k = int(round(k))
        if k > 1:
            r = r.reshape(nb, h // k, k, w // k, k).mean(axis=(2, 4))
    else:
        rows = np.floor((np.arange(int(round(h * 10 / resolution))) + 0.5) * k).astype(int)
        cols = np.floor((np.arange(int(round(w * 10 / resolution))) + 0.5) * k).astype(int)
        r = r[:, rows][:, :, cols]
    red, nir = r[BAND_KEYS.index("red")], r[BAND_KEYS.index("nir")]
    return r, normalized_difference(nir, red).astype(np.float64)


def _write_grid_tif(path: Path, arr: np.ndarray, aop: SiteSpec, res: float, dtype: str,
                    nodata, names: Sequence[str] | None = None) -> None:
    T, w, h = site_grid(aop, res)
    a = arr[None] if arr.ndim == 2 else arr
    with atomic_path(path) as tmp:
        with rasterio.open(tmp, "w", driver="GTiff", width=w, height=h, count=a.shape[0],
                           dtype=dtype, crs=f"EPSG:{aop.epsg}", transform=T, nodata=nodata,
                           compress="deflate") as dst:
            dst.write(a.astype(dtype))
            for i, n in enumerate(names or [], 1):
                dst.set_band_description(i, n)


def write_date_truth(aop: SiteSpec, scenes: Sequence[GeneratedScene], tdir: Path,
                     mask_classes: Iterable[int], res: float) -> float:
    """Write one date's truth files into ``tdir`` (``native/{reflectance,scl,source}.tif`` at
    10 m, ``{reflectance,ndvi}.tif`` at ``res``); return the valid fraction of the NDVI."""
    refl10, scl10, source = sample_truth(aop, scenes)
    _write_grid_tif(tdir / "native" / "reflectance.tif", refl10, aop, 10.0, "float32",
                    np.nan, BAND_KEYS)
    _write_grid_tif(tdir / "native" / "scl.tif", scl10, aop, 10.0, "uint8", None)
    _write_grid_tif(tdir / "native" / "source.tif", source, aop, 10.0, "uint8", None)
    refl, ndvi = mask_and_aggregate(refl10, scl10, mask_classes, res)
    _write_grid_tif(tdir / "reflectance.tif", refl, aop, res, "float32", np.nan, BAND_KEYS)
    _write_grid_tif(tdir / "ndvi.tif", ndvi, aop, res, "float32", np.nan, ["ndvi"])
    return float(np.isfinite(ndvi).mean())


def load_truth(demo_dir: str | Path, date: str, mask_classes: Iterable[int] = DEFAULT_MASK_CLASSES,
               resolution: float = 10) -> dict[str, np.ndarray]:
    """Ground truth of one date recomputed for ``mask_classes`` and ``resolution``.

    Returns ``reflectance`` (4, H, W) float64 (bands :data:`BAND_KEYS`), ``ndvi`` (H, W),
    and at 10 m ``scl`` (uint8), ``source`` (uint8 bit mask of the date's items with data).
    """
    tdir = Path(demo_dir) / "truth" / date / "native"
    with rasterio.open(tdir / "reflectance.tif") as src:
        refl10 = src.read().astype(np.float64)
    with rasterio.open(tdir / "scl.tif") as src:
        scl10 = src.read(1)
    with rasterio.open(tdir / "source.tif") as src:
        source = src.read(1)
    refl, ndvi = mask_and_aggregate(refl10, scl10, mask_classes, check_resolution(resolution))
    return {"reflectance": refl, "ndvi": ndvi, "scl": scl10, "source": source}
