"""Figures of zonal statistics: one statistic per plot (bar chart), per-plot histograms.

Both functions draw on a bare :class:`matplotlib.figure.Figure` with the Agg canvas (no
``pyplot`` global state, no display needed) and write the PNG atomically.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from aopflow.errors import ConfigError, InputDataError
from aopflow.io import write_png

log = logging.getLogger(__name__)


def plot_zonal_bars(
    table,
    png_path: str | os.PathLike,
    *,
    stat: str,
    id_column: str,
    title: str | None = None,
    units: str | None = None,
    dpi: int = 120,
) -> None:
    """Bar chart of one statistic per plot, in table order; plots without data marked 'x'.

    Args:
        table: DataFrame/GeoDataFrame from :func:`aopflow.zonal.zonal_stats_file`.
        png_path: output PNG.
        stat: column to draw (e.g. ``"mean"``, ``"p90"``).
        id_column: plot id column (bar labels).
        title, units: figure title and y-axis units (e.g. ``"m"`` for canopy height).
    """
    missing = [c for c in (stat, id_column) if c not in table.columns]
    if missing:
        cols = [c for c in table.columns if c != "geometry"]
        raise ConfigError(
            f"Column(s) {missing} for the zonal bar chart (zonal.figure_stat / zonal.id_column) "
            f"are not in the zonal table; available columns: {cols}."
        )
    if len(table) == 0:
        raise InputDataError(f"The zonal table for {png_path} has no plots to draw.")
    values = np.asarray(table[stat], dtype=np.float64)
    labels = [str(v) for v in table[id_column]]
    n = len(values)
    fig = Figure(figsize=(min(max(6.0, 0.25 * n + 2), 24.0), 4.5), layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(n)
    ok = np.isfinite(values)
    ax.bar(x[ok], values[ok], color="tab:green", label=stat)
    if (~ok).any():
        ax.plot(x[~ok], np.zeros(int((~ok).sum())), "x", color="tab:red", label="no data")
    step = max(1, math.ceil(n / 60))  # at most ~60 readable tick labels
    ax.set_xticks(x[::step], labels[::step], rotation=90, fontsize=7)
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_xlabel(id_column)
    ax.set_ylabel(f"{stat} ({units})" if units else stat)
    ax.set_title(title or f"{stat} per plot")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)  # never over a bar
    ax.grid(axis="y", alpha=0.3)
    write_png(fig, png_path, dpi)


def plot_zonal_histograms(
    arrays: Mapping[str, np.ndarray],
    png_path: str | os.PathLike,
    *,
    bins: int = 30,
    max_plots: int = 36,
    ncols: int = 6,
    title: str | None = None,
    units: str | None = None,
    dpi: int = 110,
) -> None:
    """Histograms of each plot's pixel values in one multi-panel PNG, on shared bins.

    Args:
        arrays: plot id -> value array; masked cells (masked arrays) and NaN are left out
            (as from :func:`aopflow.zonal.plot_arrays_file` or an ``.npz`` written by
            :func:`aopflow.zonal.write_plot_arrays`).
        png_path: output PNG.
        bins: number of bins spanning all shown plots' values.
        max_plots: draw the first ``max_plots`` plots only (the figure stays readable); the
            rest are listed in the log.
        ncols: panels per row.
    """
    if not arrays:
        raise InputDataError(f"No plot arrays to draw in {png_path}.")
    ids = list(arrays)
    if len(ids) > max_plots:
        log.info("Histogram figure %s shows the first %d of %d plots.", png_path, max_plots,
                 len(ids))
        ids = ids[:max_plots]
    values = {}
    for pid in ids:
        a = arrays[pid]
        v = np.ma.compressed(a) if isinstance(a, np.ma.MaskedArray) else np.ravel(a)
        v = np.asarray(v, dtype=np.float64)
        values[pid] = v[np.isfinite(v)]
    allv = np.concatenate([v for v in values.values()]) if values else np.empty(0)
    lo, hi = (float(allv.min()), float(allv.max())) if allv.size else (0.0, 1.0)
    if hi <= lo:
        hi = lo + 1.0
    edges = np.linspace(lo, hi, bins + 1)
    ncols = max(1, min(ncols, len(ids)))
    nrows = math.ceil(len(ids) / ncols)
    fig = Figure(figsize=(2.4 * ncols, 1.9 * nrows + 0.6), layout="constrained")
    axes = fig.subplots(nrows, ncols, sharex=True, squeeze=False)
    for ax, pid in zip(axes.flat, ids):
        v = values[pid]
        if v.size:
            ax.hist(v, bins=edges, color="tab:green")
        else:
            ax.text(0.5, 0.5, "no valid pixels", ha="center", va="center",
                    transform=ax.transAxes, fontsize=8, color="tab:red")
            ax.set_yticks([])
        ax.set_title(f"{pid} (n={v.size})", fontsize=8)
        # shared bins, but every panel keeps its value labels (the last row may be short)
        ax.tick_params(labelsize=7, labelbottom=True)
    for ax in list(axes.flat)[len(ids):]:
        ax.set_visible(False)
    fig.supxlabel(f"value ({units})" if units else "value", fontsize=9)
    fig.suptitle(title or "Pixel values per plot", fontsize=10)
    write_png(fig, png_path, dpi)
