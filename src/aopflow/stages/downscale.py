"""Aggregate site mosaics to coarser resolutions (block mean or block majority).

This replaces NEON's dask tutorial (``xarray.coarsen(...).mean()`` on a mosaic) with a
windowed GeoTIFF-to-GeoTIFF aggregation whose memory use does not grow with the mosaic:

* ``mean`` (continuous products: reflectance, indices, canopy height): the mean of the valid
  pixels of each ``factor`` x ``factor`` block, written as float32.
* ``majority`` (class maps): the most frequent valid value of each block (ties go to the
  smallest value), written in the source dtype.

Nodata and NaN pixels are ignored inside a block; a block without any valid pixel is nodata.
The factor is ``resolution_m / pixel size`` and must be a whole number. When the raster size
is not a multiple of the factor, the last block column/row is aggregated over the pixels that
exist: the output has ``ceil(size / factor)`` pixels, the same origin, and transform
``src.transform @ Affine.scale(factor)``, so output pixel edges fall on source pixel edges.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from affine import Affine

from aopflow.errors import ConfigError, InputDataError
from aopflow.io import atomic_path

from aopflow.raster import valid_mask

log = logging.getLogger(__name__)

#: Working-memory budget (bytes) of one window in :func:`downscale_file`.
WINDOW_BYTES = 256 * 2**20


def _factors(factor: int | tuple[int, int]) -> tuple[int, int]:
    fy, fx = (factor, factor) if np.isscalar(factor) else factor
    if int(fy) != fy or int(fx) != fx or fy < 1 or fx < 1:
        raise ConfigError(
            f"Aggregation factor {factor!r} must be a whole number >= 1 (downscale.resolutions "
            f"must be multiples of the pixel size)."
        )
    return int(fy), int(fx)




def _blocks(array: np.ndarray, fy: int, fx: int, fill) -> np.ndarray:
    """``(B, R, C)`` -> ``(B, ceil(R/fy), ceil(C/fx), fy * fx)``, padding with ``fill``."""
    b, r, c = array.shape
    ro, co = -(-r // fy), -(-c // fx)
    if (ro * fy, co * fx) != (r, c):
        padded = np.full((b, ro * fy, co * fx), fill, dtype=array.dtype)
        padded[:, :r, :c] = array
        array = padded
    return array.reshape(b, ro, fy, co, fx).transpose(0, 1, 3, 2, 4).reshape(b, ro, co, fy * fx)


def mean_nodata(nodata: float | None) -> float:
    """Nodata of a ``mean`` output (float32): the source's if float32 holds it exactly, else NaN."""
    if (nodata is None or math.isnan(nodata) or abs(nodata) > float(np.finfo(np.float32).max)
            or float(np.float32(nodata)) != float(nodata)):
        return float("nan")
    return float(nodata)


def _block_mean(array: np.ndarray, valid: np.ndarray, fy: int, fx: int,
                nodata: float | None, min_valid_fraction: float = 0.0) -> np.ndarray:
    """Mean of the valid pixels of each block, float32; empty blocks -> :func:`mean_nodata`.

    A block whose valid pixels are fewer than ``min_valid_fraction`` of its pixels (those
    that exist, at the right/bottom edges) is nodata too.
    """
    values = np.where(valid, array, 0).astype(np.float64)
    # Sum over the block axes without the (larger) transposed copy of _blocks.
    b, r, c = values.shape
    ro, co = -(-r // fy), -(-c // fx)
    pad = ((0, 0), (0, ro * fy - r), (0, co * fx - c))
    total = np.pad(values, pad).reshape(b, ro, fy, co, fx).sum(axis=(2, 4))
    count = np.pad(valid, pad).reshape(b, ro, fy, co, fx).sum(axis=(2, 4))
    out = np.full(total.shape, mean_nodata(nodata), dtype=np.float32)
    has = count > 0
    if min_valid_fraction > 0:
        size = np.pad(np.ones((r, c), dtype=np.int64), pad[1:]).reshape(ro, fy, co, fx).sum(
            axis=(1, 3))
        has &= count >= min_valid_fraction * size
    out[has] = total[has] / count[has]
    return out


def _block_majority(array: np.ndarray, valid: np.ndarray, fy: int, fx: int,
                    nodata: float | None) -> np.ndarray:
    """Most frequent valid value of each block (ties: smallest value), in the source dtype.

    Blocks are sorted along the pixel axis (invalid pixels as NaN, which sorts last); the
    length of the current run of equal values is ``j - start_of_run + 1``, and its first
    maximum over the block marks the end of the longest run with the smallest value.
    """
    # float64 holds every integer class value up to 2**53 exactly.
    values = np.where(valid, array, np.nan).astype(np.float64)
    blocks = np.sort(_blocks(values, fy, fx, np.nan), axis=-1)
    n = blocks.shape[-1]
    pos = np.arange(n)
    new_run = np.ones(blocks.shape, dtype=bool)
    new_run[..., 1:] = blocks[..., 1:] != blocks[..., :-1]
    run_start = np.maximum.accumulate(np.where(new_run, pos, 0), axis=-1)
    run_len = np.where(np.isnan(blocks), 0, pos - run_start + 1)
    best = np.argmax(run_len, axis=-1)
    winner = np.take_along_axis(blocks, best[..., None], axis=-1)[..., 0]
    empty = np.take_along_axis(run_len, best[..., None], axis=-1)[..., 0] == 0
    if np.issubdtype(array.dtype, np.integer):
        fill = 0 if nodata is None or math.isnan(nodata) else nodata
        winner[empty] = fill
    else:
        winner[empty] = np.nan if nodata is None else nodata
    return winner.astype(array.dtype)


#: Method name -> block function ``f(array, valid, fy, fx, nodata) -> aggregated array``.
DOWNSCALE_METHODS: dict[str, Callable[..., np.ndarray]] = {
    "mean": _block_mean,
    "majority": _block_majority,
}


def _check_method(method: str) -> Callable[..., np.ndarray]:
    if method not in DOWNSCALE_METHODS:
        raise ConfigError(
            f"Unknown method {method!r} for downscale.method; must be one of "
            f"{sorted(DOWNSCALE_METHODS)}."
        )
    return DOWNSCALE_METHODS[method]


def block_aggregate(array: np.ndarray, factor: int | tuple[int, int], method: str,
                    nodata: float | None = None, *,
                    min_valid_fraction: float = 0.0) -> np.ndarray:
    """Aggregate ``factor`` x ``factor`` pixel blocks of an array.

    Args:
        array: ``(rows, cols)`` or ``(bands, rows, cols)``, any numeric dtype.
        factor: block size in pixels (an int, or ``(rows, cols)``).
        method: a key of :data:`DOWNSCALE_METHODS`.
        nodata: value ignored inside blocks (NaN is always ignored).
        min_valid_fraction: ``mean`` only: a block with fewer valid pixels than this fraction
            of its pixels is nodata (0: any valid pixel will do).

    Returns:
        ``(ceil(rows/fy), ceil(cols/fx))`` (or with the band axis first): float32 for ``mean``
        (empty blocks: :func:`mean_nodata`), the input dtype for ``majority`` (empty blocks:
        ``nodata``). Partial blocks at the right/bottom edges use the pixels that exist.
    """
    func = _check_method(method)
    fy, fx = _factors(factor)
    arr = np.asarray(array)
    if arr.ndim not in (2, 3):
        raise InputDataError(f"block_aggregate needs a 2-D or 3-D array, got shape {arr.shape}.")
    arr3 = arr[None] if arr.ndim == 2 else arr
    if min_valid_fraction:
        if method != "mean" or not 0 <= min_valid_fraction <= 1:
            raise ConfigError(
                f"min_valid_fraction {min_valid_fraction!r} needs method 'mean' and a value "
                f"in [0, 1] (sentinel2.compare_min_aop_fraction).")
        out = _block_mean(arr3, valid_mask(arr3, nodata), fy, fx, nodata, min_valid_fraction)
    else:
        out = func(arr3, valid_mask(arr3, nodata), fy, fx, nodata)
    return out[0] if arr.ndim == 2 else out


def downscale_factor(pixel_size: float, resolution_m: float) -> int:
    """Whole number of source pixels per output pixel, or ConfigError."""
    ratio = resolution_m / pixel_size
    factor = round(ratio)
    if factor < 1 or not math.isclose(ratio, factor, rel_tol=1e-9, abs_tol=1e-9):
        raise ConfigError(
            f"Resolution {resolution_m!r} m in downscale.resolutions is not a whole multiple of "
            f"the source pixel size {pixel_size!r} m (ratio {ratio:.6g}); use multiples such as "
            f"{', '.join(f'{pixel_size * k:g}' for k in (2, 5, 10, 20))}."
        )
    return factor


def downscale_file(
    src_path: str | os.PathLike,
    dst_path: str | os.PathLike,
    *,
    resolution_m: float,
    method: str,
    window_rows: int | None = None,
) -> None:
    """Aggregate a GeoTIFF mosaic to ``resolution_m`` metres, window by window.

    Reads whole block-rows (``factor * k`` source rows, all columns and bands) at a time, so
    memory is bounded by :data:`WINDOW_BYTES` (or ``window_rows``) regardless of the mosaic size.
    Writes a tiled, deflate-compressed GeoTIFF (with overviews when larger than 512 pixels)
    atomically; float32 for ``mean``, the source dtype for ``majority``; nodata is set
    (:func:`mean_nodata` for ``mean``, the source nodata for ``majority``).

    Args:
        src_path: source raster (single or multi-band, projected CRS in metres, north-up).
        dst_path: output GeoTIFF.
        resolution_m: output pixel size, metres; a whole multiple of the source pixel size.
        method: a key of :data:`DOWNSCALE_METHODS`.
        window_rows: output rows per window (default: as many as fit in WINDOW_BYTES).

    Raises:
        ConfigError: unknown method, or a resolution that is not a whole multiple.
        InputDataError: unreadable raster, no/geographic CRS, rotated grid.
    """
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.errors import RasterioIOError
    from rasterio.windows import Window

    func = _check_method(method)
    src_path = Path(src_path)
    try:
        src = rasterio.open(src_path)
    except RasterioIOError as err:
        raise InputDataError(f"Cannot open raster {src_path}: {err}") from err
    with src:
        t = src.transform
        if t.b != 0 or t.d != 0:
            raise InputDataError(
                f"Raster {src_path} has a rotated grid {tuple(t)[:6]}; warp it to a north-up "
                f"grid before downscaling."
            )
        if src.crs is None or not src.crs.is_projected:
            raise InputDataError(
                f"Raster {src_path} has {'no' if src.crs is None else 'a geographic'} CRS; "
                f"downscale.resolutions are metres, so it needs a projected CRS (e.g. UTM)."
            )
        unit_factor = src.crs.linear_units_factor[1]
        if not math.isclose(unit_factor, 1.0):
            raise InputDataError(
                f"Raster {src_path} CRS units are {src.crs.linear_units!r}, not metres; "
                f"downscale.resolutions are metres. Reproject it to a metre-based CRS."
            )
        fx = downscale_factor(abs(t.a), resolution_m)
        fy = downscale_factor(abs(t.e), resolution_m)
        height, width, count = src.height, src.width, src.count
        out_h, out_w = -(-height // fy), -(-width // fx)
        nodata = src.nodata
        out_dtype = np.dtype("float32") if method == "mean" else np.dtype(src.dtypes[0])
        out_nodata = mean_nodata(nodata) if method == "mean" else nodata
        if method == "majority" and out_nodata is None and np.issubdtype(out_dtype, np.floating):
            out_nodata = float("nan")
        if window_rows is None:
            per_row = fy * width * count * 64  # bytes: float64 copies, sort, int64 runs, masks
            window_rows = max(1, WINDOW_BYTES // max(per_row, 1))
        window_rows = int(window_rows)
        if window_rows < 1:
            raise ConfigError(f"window_rows must be >= 1, got {window_rows}.")
        profile = {
            "driver": "GTiff", "width": out_w, "height": out_h, "count": count,
            "dtype": out_dtype.name, "crs": src.crs,
            "transform": t @ Affine.scale(fx, fy), "nodata": out_nodata,
            "compress": "deflate", "BIGTIFF": "IF_SAFER",
            "predictor": 3 if np.issubdtype(out_dtype, np.floating) else 2,
        }
        if out_w >= 256 and out_h >= 256:
            profile.update(tiled=True, blockxsize=256, blockysize=256)
        descriptions = src.descriptions
        log.info("Downscaling %s (%dx%d, %d band(s)) by %dx%d to %g m with %s -> %dx%d.",
                 src_path, width, height, count, fx, fy, resolution_m, method, out_w, out_h)
        with atomic_path(dst_path) as tmp:
            with rasterio.open(tmp, "w", **profile) as dst:
                for orow in range(0, out_h, window_rows):
                    nrows = min(window_rows, out_h - orow)
                    r0 = orow * fy
                    win = Window(0, r0, width, min(nrows * fy, height - r0))
                    data = src.read(window=win)
                    out = func(data, valid_mask(data, nodata), fy, fx, nodata)
                    dst.write(out.astype(out_dtype, copy=False),
                              window=Window(0, orow, out_w, nrows))
                for k, d in enumerate(descriptions, start=1):
                    if d:
                        dst.set_band_description(k, d)
                dst.update_tags(downscale_method=method, downscale_factor=f"{fx}x{fy}",
                                source=src_path.name)
                levels = []
                while min(out_w, out_h) // (2 ** (len(levels) + 1)) >= 256:
                    levels.append(2 ** (len(levels) + 1))
                if levels:
                    dst.build_overviews(
                        levels, Resampling.average if method == "mean" else Resampling.mode)
