"""Sentinel-2 NDVI through time at field plots: the zonal engine applied to every date.

For each plot of ``zonal.plots`` and each Sentinel-2 date, the statistics of that date's NDVI
(``s2/dates/{date}/ndvi.tif``) over the plot, with the project's zonal engine
(:func:`aopflow.zonal.zonal_stats_file`, pixel-centre or exact mode as ``zonal.exact`` says),
so a plot's numbers on a date are exactly those the zonal stage would give for that raster.

The table is long (one row per plot and date, dates in time order within each plot):
``<id>, date, used, count, valid_fraction, <stats...>, <percentiles...>``. ``count`` is the
number of valid (unmasked) pixels of the plot on that date (the sum of coverage fractions in
exact mode); ``valid_fraction`` is ``count`` divided by the plot's pixels on the grid (its
pixel-centre count, or its coverage sum in exact mode), i.e. the share of the plot that was
cloud-free; ``used`` tells whether the date passed ``sentinel2.min_valid_fraction`` over the
site. A plot whose pixels are all masked on a date keeps its row, with count 0 and NaN
statistics (as the zonal engine does for an empty plot).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import rasterio
from affine import Affine
from rasterio.windows import from_bounds

from aopflow.errors import InputDataError
from aopflow.io import write_png
from aopflow.zonal import parse_stats, write_zonal, zonal_stats_array, zonal_stats_file

log = logging.getLogger(__name__)

#: Statistics always in the time series (in this order), before the configured ones.
BASE_STATS = ("count", "mean", "median", "std")

#: Most panels of the small-multiples figure; more plots are listed as left out in the title.
MAX_PANELS = 36


def timeseries_stats(stats: Sequence[str], percentiles: Sequence[float]) -> list[str]:
    """Statistic names of the time series: :data:`BASE_STATS`, then the configured ones."""
    return parse_stats([*BASE_STATS, *stats], percentiles)


def plot_pixel_totals(geoms, transform: Affine, shape: tuple[int, int], *,
                      exact: bool) -> np.ndarray:
    """Pixels of each plot on the grid (count of pixel centres inside, or coverage sum).

    The zonal engine's ``count`` on an all-valid array, one plot window at a time (so memory
    does not grow with the site), which makes it the denominator of ``valid_fraction``
    with exactly the engine's membership rule.

    Args:
        geoms: P plot polygons in the grid's CRS.
        transform, shape: the raster grid (``(rows, cols)``).

    Returns:
        ``(P,)`` float64.
    """
    rows, cols = shape
    out = np.zeros(len(geoms))
    for i, g in enumerate(geoms):
        if g is None or g.is_empty:
            continue
        win = from_bounds(*g.bounds, transform=transform)
        r0 = max(0, math.floor(win.row_off) - 1)
        c0 = max(0, math.floor(win.col_off) - 1)
        r1 = min(rows, math.ceil(win.row_off + win.height) + 1)
        c1 = min(cols, math.ceil(win.col_off + win.width) + 1)
        if r1 <= r0 or c1 <= c0:
            continue
        ones = np.ones((r1 - r0, c1 - c0), dtype=np.uint8)
        rec = zonal_stats_array([g], ones, transform @ Affine.translation(c0, r0),
                                stats=["count"], exact=exact)[0]
        out[i] = float(rec["count"] or 0)
    return out


def ndvi_timeseries(
    plots_gdf,
    ndvi_paths: Mapping[str, str | os.PathLike],
    *,
    id_column: str,
    used: Mapping[str, bool] | None = None,
    stats: Sequence[str] = (),
    percentiles: Sequence[float] = (),
    exact: bool = False,
):
    """NDVI statistics of every plot on every date (see the module docstring).

    Args:
        plots_gdf: plot polygons (from :func:`aopflow.zonal.read_plots`), any projected CRS.
        ndvi_paths: date (``YYYY-MM-DD``) -> per-date NDVI GeoTIFF (float32, NaN masked), all
            on one grid.
        id_column: plot id column.
        used: date -> whether the date is used downstream (default: all True).
        stats, percentiles: extra statistics (``zonal.stats``, ``zonal.percentiles``).
        exact: coverage-weighted (``zonal.exact``).

    Returns:
        GeoDataFrame, one row per (plot, date), plot order as in ``plots_gdf`` and dates in
        time order: ``id_column``, ``date``, ``used``, ``count``, ``valid_fraction``, the
        statistics, ``geometry`` (in the rasters' CRS).
    """
    import geopandas as gpd

    if id_column not in plots_gdf.columns:
        raise InputDataError(
            f"Plots have no id column {id_column!r}; columns are "
            f"{[c for c in plots_gdf.columns if c != 'geometry']}. Set zonal.id_column.")
    if not ndvi_paths:
        raise InputDataError("No Sentinel-2 date to compute the NDVI time series for.")
    names = timeseries_stats(stats, percentiles)
    dates = sorted(ndvi_paths)
    used = {d: True for d in dates} if used is None else dict(used)
    with rasterio.open(ndvi_paths[dates[0]]) as src:
        crs, transform, shape = src.crs, src.transform, src.shape
    gdf = plots_gdf.to_crs(crs) if plots_gdf.crs != crs else plots_gdf
    gdf = gdf[[id_column, gdf.geometry.name]].reset_index(drop=True)
    totals = plot_pixel_totals(list(gdf.geometry), transform, shape, exact=exact)
    frames = []
    for d in dates:
        with rasterio.open(ndvi_paths[d]) as src:
            if src.crs != crs or src.transform != transform or src.shape != shape:
                raise InputDataError(
                    f"Sentinel-2 NDVI {ndvi_paths[d]} is not on the grid of "
                    f"{ndvi_paths[dates[0]]}; all dates must share the site grid.")
        table = zonal_stats_file(gdf, ndvi_paths[d], band=1, stats=names, exact=exact,
                                 id_column=id_column)
        count = np.asarray(table["count"], dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.where(totals > 0, count / np.where(totals > 0, totals, 1), np.nan)
        part = pd.DataFrame({id_column: table[id_column].to_numpy(), "date": d,
                             "used": bool(used.get(d, False)), "count": table["count"],
                             "valid_fraction": frac})
        for name in names:
            if name != "count":
                part[name] = table[name].to_numpy()
        part["_order"] = np.arange(len(table))
        part["geometry"] = table.geometry.to_numpy()
        frames.append(part)
    long = pd.concat(frames, ignore_index=True)
    long = long.sort_values(["_order", "date"], kind="stable").drop(columns="_order")
    return gpd.GeoDataFrame(long.reset_index(drop=True), geometry="geometry", crs=crs)


def write_timeseries(gdf, csv_path: str | os.PathLike, gpkg_path: str | os.PathLike) -> None:
    """The time series as CSV (no geometry) and GeoPackage (plot polygon on every row)."""
    write_zonal(gdf, gpkg_path, csv_path, layer="s2_ndvi_timeseries")


def plot_timeseries(
    table,
    png_path: str | os.PathLike,
    *,
    id_column: str,
    stat: str = "mean",
    title: str = "Sentinel-2 NDVI at plots",
    dpi: int = 110,
) -> None:
    """NDVI through time per plot: lines with markers; a date without valid pixels of a plot
    is a gap in its line. Up to 8 plots share one panel; more become small multiples (at most
    :data:`MAX_PANELS`, the rest named in the title). Dates not used (below
    ``min_valid_fraction`` over the site) are drawn as hollow markers.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedFormatter, FixedLocator

    if stat not in table.columns:
        raise InputDataError(f"Statistic {stat!r} is not a column of the NDVI time series.")
    if len(table) == 0:
        raise InputDataError(f"The NDVI time series for {png_path} has no rows to draw.")
    ids = list(dict.fromkeys(table[id_column].tolist()))
    # x: days since the first date; month ticks placed once (date locators on dozens of shared
    # axes cost seconds per panel).
    days = pd.to_datetime(table["date"])
    t0 = days.min()
    series = {}
    for pid, grp in table.assign(_t=(days - t0).dt.days).groupby(id_column, sort=False):
        grp = grp.sort_values("_t")
        series[pid] = (grp["_t"].to_numpy(float), np.asarray(grp[stat], dtype=np.float64),
                       np.asarray(grp["used"], dtype=bool))
    months = pd.date_range(t0.to_period("M").to_timestamp(), days.max(), freq="MS")
    months = months[months >= t0] if len(months[months >= t0]) else months[:1]
    small = len(ids) > 8
    shown = ids[:MAX_PANELS] if small else ids
    step = max(1, math.ceil(len(months) / (4 if small else 8)))
    ticks = [(m - t0).days for m in months[::step]]
    labels = [m.strftime("%b") if i else m.strftime("%b %Y") for i, m in enumerate(months[::step])]
    if small:
        ncols = math.ceil(math.sqrt(len(shown)))
        nrows = math.ceil(len(shown) / ncols)
        fig = Figure(figsize=(2.4 * ncols + 0.6, 1.8 * nrows + 0.8))
        axes = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False).ravel()
        for ax in axes[len(shown):]:
            ax.set_visible(False)
        fig.subplots_adjust(left=0.05, right=0.99, bottom=0.06, top=1 - 0.5 / fig.get_figheight(),
                            wspace=0.08, hspace=0.35)
    else:
        fig = Figure(figsize=(8, 4.5))
        ax0 = fig.subplots()
        axes = [ax0] * len(shown)
        fig.subplots_adjust(left=0.1, right=0.97, bottom=0.1, top=0.9)
    for k, (ax, pid) in enumerate(zip(axes, shown)):
        t, v, u = series[pid]
        colour = f"C{k % 10}" if not small else "C0"
        ax.plot(t, v, "-", color=colour, lw=1.2, label=str(pid))
        ax.plot(t[u], v[u], "o", color=colour, ms=3.5)
        ax.plot(t[~u], v[~u], "o", mfc="none", mec=colour, ms=3.5)
        if small:
            ax.set_title(str(pid), fontsize=8, pad=2)
            ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)
    axes[0].xaxis.set_major_locator(FixedLocator(ticks))
    axes[0].xaxis.set_major_formatter(FixedFormatter(labels))
    if not small:
        axes[0].set_ylabel(f"NDVI ({stat} over the plot)")
        axes[0].legend(fontsize=8, ncols=2 if len(shown) > 4 else 1)
    more = f" (first {len(shown)} of {len(ids)} plots)" if len(shown) < len(ids) else ""
    fig.suptitle(f"{title}: {stat}{more}; hollow = date below min_valid_fraction, "
                 f"gap = plot masked", fontsize=9)
    write_png(fig, png_path, dpi)
