"""The zonal stage for one raster: plots -> statistics table (GeoPackage + CSV) and figures."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import rasterio

from aopflow.zonal import (
    plot_arrays_file,
    read_plots,
    write_plot_arrays,
    write_zonal,
    zonal_stats_file,
)
from aopflow.zonal.figures import plot_zonal_bars, plot_zonal_histograms

log = logging.getLogger(__name__)


def zonal_for_raster(
    raster_path: str | os.PathLike,
    plots_path: str | os.PathLike,
    *,
    name: str,
    gpkg_path: str | os.PathLike,
    csv_path: str | os.PathLike,
    bars_png: str | os.PathLike,
    hist_png: str | os.PathLike,
    arrays_path: str | os.PathLike | None = None,
    id_column: str = "plotID",
    buffer_m: float = 20.0,
    plots_crs: str | None = None,
    x_column: str = "x",
    y_column: str = "y",
    stats: Sequence[str] = ("count", "min", "max", "mean", "median", "std"),
    percentiles: Sequence[float] = (),
    categorical: bool = False,
    exact: bool = False,
    zero_is_nodata: bool = False,
    figure_stat: str = "mean",
) -> Path:
    """Zonal statistics of ``raster_path`` at the plots, written as ``.gpkg`` and ``.csv``.

    Continuous rasters get ``stats`` and percentiles (``p90``...); class maps
    (``categorical``) get the fraction of each class (``frac_<class>``) and the majority class.
    Multi-band rasters get one set of columns per band (``b1_mean``...). Plots are computed
    whole on the site mosaic; a plot outside the data gets ``count`` 0 and a warning.
    """
    with rasterio.open(raster_path) as src:
        crs, count = src.crs, src.count
    plots = read_plots(plots_path, id_column=id_column, buffer_m=buffer_m, crs=plots_crs,
                       x_column=x_column, y_column=y_column, target_crs=crs)
    band = 1 if count == 1 else None
    table = zonal_stats_file(
        plots, raster_path, band=band, stats=() if categorical else stats,
        percentiles=() if categorical else percentiles, categorical=categorical, exact=exact,
        zero_is_nodata=zero_is_nodata, id_column=id_column,
    )
    write_zonal(table, gpkg_path, csv_path)
    prefix = "" if band == 1 else "b1_"
    stat = f"{prefix}{'majority' if categorical else figure_stat}"
    plot_zonal_bars(table, bars_png, stat=stat, id_column=id_column,
                    title=f"{name}: {stat} per plot" + (" (band 1)" if prefix else ""))
    arrays = plot_arrays_file(plots, raster_path, id_column=id_column, band=1, zero_is_nodata=zero_is_nodata)
    plot_zonal_histograms(arrays, hist_png, title=f"{name}: pixel values per plot" + (" (band 1)" if prefix else ""))
    if arrays_path:
        write_plot_arrays(arrays_path, arrays)
    n_empty = int(np.sum(np.asarray(table["b1_count" if prefix else "count"]) == 0)) if not categorical else 0
    log.info("%s: %d plots, %d without data", name, len(table), n_empty)
    return Path(gpkg_path)
