"""Aggregate site mosaics to coarser resolutions (block mean or block majority).

This replaces NEON's dask tutorial (``xarray.coarsen(...).mean()`` on a mosaic) with a
windowed GeoTIFF-to-GeoTIFF aggregation whose memory use does not grow with the mosaic. The
blocks are aggregated by :mod:`aopflow.aggregate` (``mean`` for continuous products, written as
float32; ``majority`` for class maps, in the source dtype; no-data and NaN ignored inside a
block). The factor is ``resolution_m / pixel size`` and must be a whole number; the output has
``ceil(size / factor)`` pixels, the same origin, and transform
``src.transform @ Affine.scale(factor)``, so output pixel edges fall on source pixel edges.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import numpy as np
from affine import Affine

from aopflow.aggregate import block_aggregate, check_method, downscale_factor, mean_nodata
from aopflow.errors import ConfigError, InputDataError
from aopflow.io import atomic_path

log = logging.getLogger(__name__)

#: Working-memory budget (bytes) of one window in :func:`downscale_file`.
WINDOW_BYTES = 256 * 2**20


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
    (:func:`aopflow.aggregate.mean_nodata` for ``mean``, the source nodata for ``majority``).

    Args:
        src_path: source raster (single or multi-band, projected CRS in metres, north-up).
        dst_path: output GeoTIFF.
        resolution_m: output pixel size, metres; a whole multiple of the source pixel size.
        method: a key of :data:`aopflow.aggregate.DOWNSCALE_METHODS`.
        window_rows: output rows per window (default: as many as fit in WINDOW_BYTES).

    Raises:
        ConfigError: unknown method, or a resolution that is not a whole multiple.
        InputDataError: unreadable raster, no/geographic CRS, rotated grid.
    """
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.errors import RasterioIOError
    from rasterio.windows import Window

    check_method(method)
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
                    out = block_aggregate(data, (fy, fx), method, nodata)
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
