"""GeoTIFF and COG writing, nodata conventions and valid-pixel masks shared by every stage."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import rasterio
import rasterio.dtypes
import rasterio.shutil
from affine import Affine
from rasterio.crs import CRS

from aopflow.errors import InputDataError
from aopflow.io import atomic_path

log = logging.getLogger(__name__)

#: Tiled GeoTIFF creation options of every per-tile and intermediate GeoTIFF. DEFLATE level 1:
#: float32 rasters with the floating-point predictor come out barely larger than at the
#: default level 6 and are written several times faster (docs/performance.md, "Compression").
GTIFF_OPTS = {"driver": "GTiff", "tiled": True, "blockxsize": 256, "blockysize": 256,
              "compress": "deflate", "zlevel": 1, "BIGTIFF": "IF_SAFER"}
#: Compression of the per-tile GeoTIFFs only aopflow reads back (the chain's SAM/SID score
#: rasters, see ``rules/spectral.smk``): ZSTD level 1 writes and reads them back faster than
#: DEFLATE level 1, at the same size (docs/performance.md, "Compression"). Products keep
#: DEFLATE, which every GeoTIFF reader has; the GDAL in rasterio's wheels, conda-forge and
#: Debian has ZSTD.
SCRATCH_COMPRESSION = {"compress": "zstd", "zstd_level": 1}
#: Cloud-Optimized GeoTIFF creation options of every COG aopflow writes (GDAL's COG driver
#: builds the internal tiling and overviews). ``predictor`` is chosen per dtype by
#: :func:`cog_options`.
COG_OPTS = {"driver": "COG", "compress": "DEFLATE", "blocksize": 256, "BIGTIFF": "IF_SAFER"}


def default_nodata(dtype) -> float | int:
    """No-data value used for a product dtype: NaN for floats, 255 for uint8 class maps."""
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return float("nan")
    if dt == np.uint8:
        return 255
    return int(np.iinfo(dt).min) if dt.kind == "i" else int(np.iinfo(dt).max)


def cast_exact(array: np.ndarray, dtype, what: str) -> np.ndarray:
    """``array`` as ``dtype`` if every value survives the cast unchanged, else an error.

    ``astype`` wraps integers silently (-9999 as uint8 is 241) and truncates floats; this
    never does: a value the target type cannot hold raises :class:`InputDataError` naming
    ``what`` (the file and layer) and the offending range.
    """
    dt = np.dtype(dtype)
    if array.dtype == dt:
        return array
    with np.errstate(invalid="ignore", over="ignore"):
        out = array.astype(dt)
        same = np.array_equal(out.astype(array.dtype), array, equal_nan=array.dtype.kind in "fc")
    if not same:
        lo, hi = (np.nanmin(array), np.nanmax(array)) if array.size else (None, None)
        raise InputDataError(
            f"{what}: values {lo}..{hi} ({array.dtype}) cannot be stored as {dt} without "
            "changing them; aopflow does not wrap or truncate values. Report the file (its "
            "dtype is not one NEON uses) or convert the layer yourself."
        )
    return out


def geotiff_array(array: np.ndarray, what: str) -> np.ndarray:
    """``array`` in a dtype GeoTIFF stores, values unchanged: native byte order; bool as
    uint8, float16 as float32; any other unsupported dtype through :func:`cast_exact`."""
    arr = array.astype(array.dtype.newbyteorder("="), copy=False)
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8)
    if arr.dtype == np.float16:
        return arr.astype(np.float32)
    if rasterio.dtypes.check_dtype(arr.dtype.name):
        return arr
    target = np.float64 if arr.dtype.kind == "f" else np.int64 if arr.dtype.kind == "i" else np.uint64
    return cast_exact(arr, target, what)


def _block(n: int) -> int:
    """Largest multiple of 16 (GeoTIFF tile constraint) <= n, at least 16."""
    return max(16, min(256, n // 16 * 16))


def _write(path, data: np.ndarray, crs, transform: Affine, nodata, band_names, tags,
           options: dict) -> Path:
    """Atomically write ``data`` (``(rows, cols)`` or ``(bands, rows, cols)``, in its own dtype)
    with the creation ``options``, band descriptions and tags: the body of :func:`write_geotiff`
    and :func:`write_cog`."""
    arr = data[None] if data.ndim == 2 else data
    count, rows, cols = arr.shape
    if isinstance(crs, int):
        crs = CRS.from_epsg(crs)
    with atomic_path(path) as tmp:
        with rasterio.open(
            tmp, "w", width=cols, height=rows, count=count, dtype=arr.dtype, crs=crs,
            transform=transform, nodata=nodata, **options,
        ) as dst:
            dst.write(arr)
            for i, name in enumerate(band_names or [], 1):
                dst.set_band_description(i, str(name))
            if tags:
                dst.update_tags(**{k: str(v) for k, v in tags.items()})
    return Path(path)


def write_geotiff(
    path: str | os.PathLike,
    data: np.ndarray,
    *,
    crs: CRS | str | int,
    transform: Affine,
    nodata: float | int | None,
    band_names: Sequence[str] | None = None,
    tags: dict | None = None,
    threads: int = 1,
    scratch: bool = False,
    band_interleaved: bool = False,
) -> Path:
    """Atomically write ``data`` (``(rows, cols)`` or ``(bands, rows, cols)``) as a tiled GeoTIFF;
    ``threads`` > 1 compresses tiles in that many GDAL threads. ``scratch``: a file only
    aopflow reads back, compressed with :data:`SCRATCH_COMPRESSION`. ``band_interleaved``: each
    band's tiles compressed apart (a reader of a few of many bands decodes only those; the
    per-tile index extract)."""
    rows, cols = data.shape[-2:]
    opts = dict(GTIFF_OPTS)
    if band_interleaved:
        opts["interleave"] = "band"
    if scratch:
        opts = {k: v for k, v in opts.items() if k != "zlevel"} | SCRATCH_COMPRESSION
    if threads > 1:
        opts["num_threads"] = int(threads)
    if rows < 256 or cols < 256:  # GDAL needs tile sizes <= raster size is not required, but keep small files small
        opts.update(blockxsize=_block(cols), blockysize=_block(rows))
    if data.dtype.kind == "f":
        opts["predictor"] = 3
    return _write(path, data, crs, transform, nodata, band_names, tags, opts)


def cog_options(dtype, overview_resampling: str, **options) -> dict:
    """COG creation options: :data:`COG_OPTS`, ``overview_resampling`` (e.g. ``"average"``,
    ``"nearest"`` for class maps), the DEFLATE predictor (floating-point for floats, none for
    integers), then ``options`` (any COG creation option, e.g. ``level=1``, ``predictor=2``)."""
    return {**COG_OPTS, "predictor": "YES" if np.dtype(dtype).kind == "f" else "NO",
            "overview_resampling": overview_resampling, **options}


def write_cog(
    path: str | os.PathLike,
    data: np.ndarray,
    *,
    crs: CRS | str | int,
    transform: Affine,
    nodata: float | int | None,
    overview_resampling: str,
    band_names: Sequence[str] | None = None,
    tags: dict | None = None,
    **options,
) -> Path:
    """Atomically write ``data`` (``(rows, cols)`` or ``(bands, rows, cols)``, written in its own
    dtype) as a Cloud-Optimized GeoTIFF; ``options`` as in :func:`cog_options`."""
    return _write(path, data, crs, transform, nodata, band_names, tags,
                  cog_options(data.dtype, overview_resampling, **options))


def copy_as_cog(src: str | os.PathLike, dst: str | os.PathLike, *, overview_resampling: str,
                **options) -> None:
    """Rewrite the (assembled, tiled) GeoTIFF ``src`` as a COG at ``dst``; ``options`` as in
    :func:`cog_options`. Not atomic by itself: ``dst`` is the caller's temporary name."""
    with rasterio.open(src) as s:
        dtype = s.dtypes[0]
    rasterio.shutil.copy(src, dst, **cog_options(dtype, overview_resampling, **options))


def valid_mask(array: np.ndarray, nodata: float | None) -> np.ndarray:
    """True where a pixel is neither NaN nor ``nodata`` (compared in the array's dtype).

    An integer raster whose nodata cannot be represented in its dtype has no nodata pixels;
    a float nodata is compared in the array's precision (NEP 50), as rasterstats does.
    """
    valid = np.ones(array.shape, dtype=bool)
    if np.issubdtype(array.dtype, np.floating):
        valid &= ~np.isnan(array)
    if nodata is not None and not math.isnan(nodata):
        if np.issubdtype(array.dtype, np.integer):
            info = np.iinfo(array.dtype)
            if float(nodata).is_integer() and info.min <= nodata <= info.max:
                valid &= array != array.dtype.type(int(nodata))
        else:
            valid &= array != float(nodata)
    return valid


def read_decimated(path: str | os.PathLike, max_pixels: int = 1500, bands=None):
    """Read a raster at most ``max_pixels`` on its longer side (uses overviews when present).

    Returns ``(array (bands, rows, cols) with no-data as NaN/masked, extent (l, r, b, t), src
    nodata, band descriptions)``.
    """
    with rasterio.open(path) as src:
        f = max(1, math.ceil(max(src.width, src.height) / max_pixels))
        shape = (math.ceil(src.height / f), math.ceil(src.width / f))
        idx = bands or list(range(1, src.count + 1))
        arr = src.read(idx, out_shape=(len(idx), *shape), resampling=rasterio.enums.Resampling.nearest)
        b = src.bounds
        return arr, (b.left, b.right, b.bottom, b.top), src.nodata, src.descriptions
