"""Block aggregation of raster arrays: the mean or the majority of ``fy`` x ``fx`` pixel blocks.

The array-level half of resampling to a coarser grid whose pixel edges fall on source pixel
edges (a whole factor), used by the downscale stage (:mod:`aopflow.stages.downscale`, mosaic
GeoTIFF to GeoTIFF, window by window), by the AOP-vs-Sentinel-2 comparison
(:mod:`aopflow.sentinel2.compare`, AOP NDVI onto the Sentinel-2 grid) and by the configuration
checks (:func:`downscale_factor`):

* ``mean`` (continuous values: reflectance, indices, canopy height): the mean of the valid
  pixels of each block, float32.
* ``majority`` (class maps): the most frequent valid value of each block (ties go to the
  smallest value), in the source dtype.

No-data and NaN pixels are ignored inside a block; a block without any valid pixel is no data.
When the array size is not a multiple of the factor, the last block column/row is aggregated
over the pixels that exist: the output has ``ceil(size / factor)`` pixels.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from aopflow.errors import ConfigError, InputDataError
from aopflow.raster import valid_mask


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


def check_method(method: str) -> Callable[..., np.ndarray]:
    """The block function of ``method`` (a key of :data:`DOWNSCALE_METHODS`), or ConfigError
    naming ``downscale.method``."""
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
    func = check_method(method)
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
