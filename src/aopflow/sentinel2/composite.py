"""Per-pixel median composites of the Sentinel-2 per-date products, in bounded memory.

Inputs are the per-date rasters of the Sentinel-2 stage (``s2/dates/{date}/ndvi.tif`` and
``reflectance.tif``: float32 on one site grid, NaN where masked). For the dates used (those
with at least ``sentinel2.min_valid_fraction`` valid area, ``used`` in ``date_summary.csv``):

* ``ndvi_median``: the median over dates of each pixel's valid NDVI values,
* ``reflectance_median``: the same for every band (band descriptions kept),
* ``valid_count``: the number of dates with a valid NDVI at the pixel (uint16).

The median is NumPy's :func:`numpy.nanmedian`: the middle value of the sorted valid values,
or the mean of the two middle ones for an even count; a pixel without any valid value is NaN
(count 0). It is computed here by sorting (NaN sorts last) and picking the middle of the valid
values, which is the same number without nanmedian's "All-NaN slice" warning.

Memory: the dates are read one window (a block of whole rows) at a time, as float32, so the
working set is ``dates x window rows x columns x 4 bytes`` times a small factor for the sort,
bounded by :data:`WINDOW_BYTES` whatever the site size; never all dates of the whole site.

Periods (``sentinel2.composite.period``): ``all`` (one composite), ``month`` (``2024-05``) or
``season`` (meteorological seasons ``2024-MAM``, ``2024-JJA``, ``2024-SON``, ``2025-DJF``;
December counts towards the next year's DJF).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import rasterio
import rasterio.enums
from rasterio.windows import Window

from aopflow.errors import ConfigError, InputDataError
from aopflow.io import atomic_path, write_png
from aopflow.raster import GTIFF_OPTS, copy_as_cog
from aopflow.sentinel2.dates import parse_date

log = logging.getLogger(__name__)

#: Working-memory budget (bytes) of one window of :func:`median_composite`.
WINDOW_BYTES = 64 * 2**20

#: Composite period name -> function ``date -> label`` (``all`` has the single label "all").
_SEASONS = {12: "DJF", 1: "DJF", 2: "DJF", 3: "MAM", 4: "MAM", 5: "MAM", 6: "JJA", 7: "JJA",
            8: "JJA", 9: "SON", 10: "SON", 11: "SON"}
PERIODS = {
    "all": lambda d: "all",
    "month": lambda d: f"{d.year:04d}-{d.month:02d}",
    "season": lambda d: f"{d.year + (d.month == 12):04d}-{_SEASONS[d.month]}",
}
#: Every label but "all": a month (``2024-05``) or a season (``2024-JJA``).
PERIOD_LABEL_PATTERN = rf"\d{{4}}-(\d{{2}}|{'|'.join(sorted(set(_SEASONS.values())))})"

def period_label(date: str | dt.date, period: str) -> str:
    """The composite period a date belongs to (see the module docstring)."""
    if period not in PERIODS:
        raise ConfigError(
            f"Unknown sentinel2.composite.period {period!r}; must be one of {sorted(PERIODS)}.")
    if isinstance(date, str):
        date = parse_date(date, "Sentinel-2 date")
    return PERIODS[period](date)


def group_by_period(dates: Sequence[str], period: str) -> dict[str, list[str]]:
    """Period label -> its dates (sorted), labels in time order."""
    out: dict[str, list[str]] = {}
    for d in sorted(dates):
        out.setdefault(period_label(d, period), []).append(d)
    return out


def nan_median(stack: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median over axis 0 of the non-NaN values, and how many there are.

    Args:
        stack: ``(dates, ...)`` float array, NaN = no observation.

    Returns:
        ``(median, count)``: median in the input dtype (NaN where count is 0; equal to
        ``numpy.nanmedian(stack, axis=0)``), count as int64.
    """
    stack = np.asarray(stack)
    valid = ~np.isnan(stack)
    count = valid.sum(axis=0)
    if stack.shape[0] == 0:
        return np.full(stack.shape[1:], np.nan, dtype=stack.dtype), count
    srt = np.sort(stack, axis=0)  # NaN last
    lo = np.clip((count - 1) // 2, 0, None)
    hi = np.clip(count // 2, 0, None)
    a = np.take_along_axis(srt, lo[None], axis=0)[0]
    b = np.take_along_axis(srt, hi[None], axis=0)[0]
    # np.median takes the mean of the two middle values in the input dtype: (a + b) / 2.
    med = np.where(count > 0, (a + b) / stack.dtype.type(2), np.nan).astype(stack.dtype)
    return med, count


def _grid_of(src) -> tuple:
    return src.crs, tuple(src.transform)[:6], src.width, src.height


def _open_all(stack: ExitStack, paths: Sequence[str | os.PathLike], what: str):
    """Open every path; check one grid and band count; return the datasets."""
    from rasterio.errors import RasterioIOError

    srcs = []
    for p in paths:
        try:
            srcs.append(stack.enter_context(rasterio.open(p)))
        except RasterioIOError as err:
            raise InputDataError(f"Cannot open Sentinel-2 {what} raster {p}: {err}") from err
    first = srcs[0]
    for p, s in zip(paths[1:], srcs[1:]):
        if _grid_of(s) != _grid_of(first) or s.count != first.count:
            raise InputDataError(
                f"Sentinel-2 {what} rasters must share one site grid and band count: {paths[0]} "
                f"is {first.width}x{first.height}x{first.count} at {tuple(first.transform)[:6]} "
                f"({first.crs}), {p} is {s.width}x{s.height}x{s.count} at "
                f"{tuple(s.transform)[:6]} ({s.crs}). Rerun the Sentinel-2 stage with one "
                f"configuration."
            )
    return srcs


def median_composite(
    ndvi_paths: Sequence[str | os.PathLike],
    reflectance_paths: Sequence[str | os.PathLike] | None,
    *,
    ndvi_out: str | os.PathLike,
    count_out: str | os.PathLike | None,
    reflectance_out: str | os.PathLike | None = None,
    window_rows: int | None = None,
    tags: Mapping[str, str] | None = None,
    grid_like: str | os.PathLike | None = None,
) -> dict[str, Path]:
    """Median NDVI (and reflectance) composite and valid-observation count, written as COGs.

    Args:
        ndvi_paths: per-date NDVI GeoTIFFs (float32, 1 band, NaN masked), one site grid.
        reflectance_paths: per-date reflectance GeoTIFFs (float32, B bands, NaN masked) on the
            same grid, same order as ``ndvi_paths``; None: no reflectance composite.
        ndvi_out, count_out, reflectance_out: output COG paths: float32 ``(rows, cols)`` NaN
            nodata (any one-band per-date raster: NDVI or an index); uint16 ``(rows, cols)``
            (no nodata: 0 observations is a value; None: not written);
            float32 ``(B, rows, cols)`` NaN nodata, band descriptions of the inputs.
        window_rows: rows per window (default: as many as fit in :data:`WINDOW_BYTES`).
        tags: GeoTIFF metadata tags added to every output (e.g. the dates used).
        grid_like: a per-date reflectance raster giving the grid and bands when there is no
            date (then the composites are all NaN and the count 0).

    Raises:
        InputDataError: no dates and no ``grid_like``, unreadable rasters, or rasters on
            different grids.
    """
    if not ndvi_paths and grid_like is None:
        raise InputDataError(
            "No Sentinel-2 date is used for the composite (none has sentinel2.min_valid_fraction "
            "valid area); lower sentinel2.min_valid_fraction or widen sentinel2.datetime.")
    if reflectance_paths is not None and len(reflectance_paths) != len(ndvi_paths):
        raise InputDataError(
            f"{len(ndvi_paths)} NDVI rasters but {len(reflectance_paths)} reflectance rasters; "
            f"every date needs both.")
    outs = {"ndvi": Path(ndvi_out)}
    if count_out is not None:
        outs["count"] = Path(count_out)
    if reflectance_paths is not None:
        if reflectance_out is None:
            raise ValueError("reflectance_out is needed with reflectance_paths")
        outs["reflectance"] = Path(reflectance_out)
    n = len(ndvi_paths)
    tags = {"composite": "median", "n_dates": str(n), **dict(tags or {})}
    with ExitStack() as stack:
        # Whole rows are read once each: GDAL's block cache (default 5 % of RAM) buys nothing.
        stack.enter_context(rasterio.Env(GDAL_CACHEMAX=64))
        ndvi_srcs = _open_all(stack, list(ndvi_paths), "NDVI") if n else []
        refl_srcs = (_open_all(stack, list(reflectance_paths), "reflectance")
                     if reflectance_paths is not None and n else [])
        like = _open_all(stack, [grid_like], "reflectance")[0] if not n else None
        g = ndvi_srcs[0] if n else like
        if refl_srcs and _grid_of(refl_srcs[0]) != _grid_of(g):
            raise InputDataError(
                f"Reflectance {reflectance_paths[0]} and NDVI {ndvi_paths[0]} are on different "
                f"grids; both must be on the Sentinel-2 site grid.")
        band_src = refl_srcs[0] if refl_srcs else like
        nb = band_src.count if reflectance_paths is not None else 0
        width, height = g.width, g.height
        if window_rows is None:
            # float32 stack + sorted copy + take/where temporaries: ~4 copies of the stack of
            # all dates' bands of a row.
            per_row = n * width * 4 * 4 * max(1, nb)
            window_rows = max(1, WINDOW_BYTES // max(per_row, 1))
        window_rows = int(window_rows)
        if window_rows < 1:
            raise ConfigError(f"window_rows must be >= 1, got {window_rows}.")
        base = {"crs": g.crs, "transform": g.transform, "width": width, "height": height,
                **{**GTIFF_OPTS, "compress": "zstd"}}
        if width < 256 or height < 256:
            base.update(tiled=False)
            base.pop("blockxsize"), base.pop("blockysize")
        descriptions = band_src.descriptions if nb else ()
        tmps = {k: p.with_name(f".{p.name}.assemble.tif") for k, p in outs.items()}
        for p in outs.values():
            p.parent.mkdir(parents=True, exist_ok=True)
        try:
            dsts = {
                "ndvi": stack.enter_context(rasterio.open(
                    tmps["ndvi"], "w", count=1, dtype="float32", nodata=float("nan"), **base)),
            }
            if "count" in outs:
                dsts["count"] = stack.enter_context(rasterio.open(
                    tmps["count"], "w", count=1, dtype="uint16", **base))
            if nb:
                dsts["reflectance"] = stack.enter_context(rasterio.open(
                    tmps["reflectance"], "w", count=nb, dtype="float32", nodata=float("nan"),
                    **base))
            for r0 in range(0, height, window_rows):
                win = Window(0, r0, width, min(window_rows, height - r0))
                block = np.stack([s.read(1, window=win, out_dtype="float32") for s in ndvi_srcs]
                                 or [np.full((win.height, width), np.nan, np.float32)])
                med, count = nan_median(block)
                del block
                dsts["ndvi"].write(med, 1, window=win)
                if "count" in dsts:
                    dsts["count"].write(np.minimum(count, 65535).astype(np.uint16), 1, window=win)
                if nb:
                    # All bands of a date in one read: the files are pixel-interleaved, so a
                    # read per band would decompress every tile once per band.
                    block = np.stack([s.read(window=win, out_dtype="float32")
                                      for s in refl_srcs]
                                     or [np.full((nb, win.height, width), np.nan, np.float32)])
                    dsts["reflectance"].write(nan_median(block)[0], window=win)
                    del block
            for k, d in enumerate(descriptions, start=1):
                if d:
                    dsts["reflectance"].set_band_description(k, d)
            for d in dsts.values():
                d.update_tags(**tags)
                d.close()
            for k, p in outs.items():
                with atomic_path(p) as final:
                    copy_as_cog(tmps[k], final, overview_resampling="average")
        finally:
            for t in tmps.values():
                if t.exists():
                    t.unlink()
    log.info("Median composite of %d date(s), %dx%d px, %d band(s), %d rows per window -> %s",
             n, width, height, nb, window_rows, ", ".join(str(p) for p in outs.values()))
    return outs


def date_of_path(path: str | os.PathLike) -> str:
    """The date of a per-date product ``.../s2/dates/{date}/ndvi.tif`` (its folder name)."""
    name = Path(path).parent.name
    parse_date(name, f"folder of {path}")
    return name


def select_dates(paths: Sequence[str | os.PathLike], dates: Sequence[str]) -> list[str]:
    """The paths (of per-date products) whose date is in ``dates``, in date order."""
    by_date = {date_of_path(p): str(p) for p in paths}
    missing = [d for d in dates if d not in by_date]
    if missing:
        raise InputDataError(
            f"Sentinel-2 dates {missing} are used in the date summary but have no per-date "
            f"product among the inputs; rerun the Sentinel-2 stage.")
    return [by_date[d] for d in sorted(dates)]


def plot_composite(ndvi_median: str | os.PathLike, valid_count: str | os.PathLike,
                   png_path: str | os.PathLike, *, title: str = "Sentinel-2 median composite",
                   max_pixels: int = 1200, dpi: int = 110) -> None:
    """Side by side: the median NDVI (masked pixels grey) and the valid-observation count.

    Reads a decimated view (at most ``max_pixels`` on the long side; COG overviews make it
    cheap), so the figure costs little memory whatever the site size.
    """
    from matplotlib.colors import BoundaryNorm
    from matplotlib.figure import Figure

    with rasterio.open(ndvi_median) as src:
        k = max(1, math.ceil(max(src.width, src.height) / max_pixels))
        shape = (max(1, src.height // k), max(1, src.width // k))
        ndvi = src.read(1, out_shape=shape, resampling=rasterio.enums.Resampling.nearest)
        left, bottom, right, top = src.bounds
        n_dates = src.tags().get("n_dates", "?")
    with rasterio.open(valid_count) as src:
        count = src.read(1, out_shape=shape, resampling=rasterio.enums.Resampling.nearest)
    extent = (left, right, bottom, top)
    fig = Figure(figsize=(11, 4.8))
    ax1, ax2 = fig.subplots(1, 2)
    ax1.set_facecolor("0.75")
    im1 = ax1.imshow(np.ma.masked_invalid(ndvi), extent=extent, cmap="RdYlGn", vmin=-0.2,
                     vmax=1.0, interpolation="nearest")
    fig.colorbar(im1, ax=ax1, shrink=0.8, label="NDVI (median)")
    ax1.set_title("median NDVI (grey: no valid observation)", fontsize=9)
    top_count = max(1, int(count.max()))
    norm = BoundaryNorm(np.arange(-0.5, top_count + 1.5), 256)
    im2 = ax2.imshow(count, extent=extent, cmap="viridis", norm=norm, interpolation="nearest")
    fig.colorbar(im2, ax=ax2, shrink=0.8, label="valid observations",
                 ticks=np.unique(np.linspace(0, top_count, min(top_count + 1, 9)).round()))
    ax2.set_title("valid observations per pixel", fontsize=9)
    for ax in (ax1, ax2):
        ax.ticklabel_format(style="plain", useOffset=False)
        ax.tick_params(labelsize=7)
    fig.suptitle(f"{title} of {n_dates} date(s)", fontsize=10)
    fig.tight_layout()
    write_png(fig, png_path, dpi)
