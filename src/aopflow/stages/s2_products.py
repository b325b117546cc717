"""Sentinel-2 products (rules/s2_products.smk): composites, NDVI time series at plots, AOP vs
Sentinel-2 on the site grid and at plots.

Algorithms live in :mod:`aopflow.sentinel2.composite`, :mod:`aopflow.sentinel2.timeseries` and
:mod:`aopflow.sentinel2.compare`; the functions here read the stage's inputs (the per-date
products of the Sentinel-2 stage and ``s2/date_summary.csv``), call them and write the outputs.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from aopflow.errors import ConfigError, InputDataError
from aopflow.io import atomic_path
from aopflow.sentinel2 import compare as cmp
from aopflow.sentinel2.composite import (
    date_of_path,
    group_by_period,
    median_composite,
    plot_composite,
    select_dates,
)
from aopflow.sentinel2.dates import read_date_summary
from aopflow.sentinel2.timeseries import ndvi_timeseries, plot_timeseries, write_timeseries
from aopflow.zonal import read_plots, zonal_stats_file

log = logging.getLogger(__name__)


def _by_date(paths: Sequence[str | os.PathLike]) -> dict[str, str]:
    return {date_of_path(p): str(p) for p in paths}


def s2_composite(
    date_summary: str | os.PathLike,
    ndvi_paths: Sequence[str | os.PathLike],
    reflectance_paths: Sequence[str | os.PathLike],
    *,
    ndvi_out: str | os.PathLike,
    reflectance_out: str | os.PathLike,
    count_out: str | os.PathLike,
    figure_png: str | os.PathLike | None = None,
    period: str = "all",
    label: str = "all",
) -> None:
    """Median composites of the used dates among the inputs that fall in period ``label``.

    The inputs are the per-date products of every date of the period (used or not, so the
    job's inputs are known before the dates are checked); the date summary says which are used.
    A period without a used date gets all-NaN composites and a count of 0 (logged).
    """
    rows = read_date_summary(date_summary)
    ndvi, refl = _by_date(ndvi_paths), _by_date(reflectance_paths)
    in_period = group_by_period(list(ndvi), period).get(label, [])
    used = [r["date"] for r in rows if r["used"] and r["date"] in in_period]
    if not used:
        log.warning("Composite %s: no used Sentinel-2 date among %s; writing empty composites.",
                    label, in_period or "no dates")
    median_composite(
        select_dates(ndvi.values(), used), select_dates(refl.values(), used),
        ndvi_out=ndvi_out, reflectance_out=reflectance_out, count_out=count_out,
        tags={"dates": ";".join(used), "period": period, "period_label": label},
        grid_like=next(iter(refl.values())) if refl else None)
    if figure_png:
        title = "Sentinel-2 median composite" + ("" if label == "all" else f" ({label})")
        plot_composite(ndvi_out, count_out, figure_png, title=title)


def _plots(plots_path, target_crs, *, id_column, buffer_m, plots_crs, x_column, y_column):
    return read_plots(plots_path, id_column=id_column, buffer_m=buffer_m, crs=plots_crs,
                      x_column=x_column, y_column=y_column, target_crs=target_crs)


def s2_timeseries(
    date_summary: str | os.PathLike,
    ndvi_paths: Sequence[str | os.PathLike],
    plots_path: str | os.PathLike,
    *,
    csv_path: str | os.PathLike,
    gpkg_path: str | os.PathLike,
    png_path: str | os.PathLike,
    id_column: str = "plotID",
    buffer_m: float = 20.0,
    plots_crs: str | None = None,
    x_column: str = "x",
    y_column: str = "y",
    stats: Sequence[str] = (),
    percentiles: Sequence[float] = (),
    exact: bool = False,
    figure_stat: str = "mean",
) -> None:
    """``s2/ndvi_timeseries.{csv,gpkg}`` and its figure for every date of the inputs."""
    import rasterio

    rows = {r["date"]: r["used"] for r in read_date_summary(date_summary)}
    ndvi = _by_date(ndvi_paths)
    with rasterio.open(next(iter(ndvi.values()))) as src:
        crs = src.crs
    plots = _plots(plots_path, crs, id_column=id_column, buffer_m=buffer_m, plots_crs=plots_crs,
                   x_column=x_column, y_column=y_column)
    table = ndvi_timeseries(plots, ndvi, id_column=id_column,
                            used={d: rows.get(d, False) for d in ndvi},
                            stats=stats, percentiles=percentiles, exact=exact)
    write_timeseries(table, csv_path, gpkg_path)
    stat = figure_stat if figure_stat in table.columns else "mean"
    plot_timeseries(table, png_path, id_column=id_column, stat=stat)
    log.info("NDVI time series: %d plots x %d dates, %d plot-dates without valid pixels",
             len(plots), len(ndvi), int((np.asarray(table["count"]) == 0).sum()))


def s2_compare(
    aop_ndvi: str | os.PathLike,
    date_summary: str | os.PathLike,
    ndvi_paths: Sequence[str | os.PathLike],
    h5_paths: Sequence[str | os.PathLike],
    *,
    table_path: str | os.PathLike,
    hexbin_png: str | os.PathLike,
    compare_date: str | None = None,
    min_aop_fraction: float = 0.5,
) -> dict:
    """``tables/aop_vs_s2.csv`` (one row) and the hexbin figure (see :mod:`~aopflow.sentinel2.compare`)."""
    rows = read_date_summary(date_summary)
    ndvi = _by_date(ndvi_paths)
    used = [r["date"] for r in rows if r["used"] and r["date"] in ndvi]
    try:
        aop_date, by_date = cmp.aop_flight_date(h5_paths)
        log.info("AOP acquisition dates (pixels): %s -> %s", by_date, aop_date)
    except ConfigError:
        if not compare_date:
            raise
        aop_date, by_date = None, {}
        log.info("No AOP acquisition date in the tiles; using sentinel2.compare_date.")
    s2_date = cmp.choose_s2_date(used, list(ndvi), aop_date=aop_date, compare_date=compare_date)
    aop, s2 = cmp.compare_grid(aop_ndvi, ndvi[s2_date], min_valid_fraction=min_aop_fraction)
    fit = cmp.fit_stats(aop, s2)
    if fit["n"] < 3:
        log.warning("AOP vs Sentinel-2 on %s: only %d pixel(s) valid in both; fit is NaN.",
                    s2_date, fit["n"])
    # Registration check: r2 with the AOP blocks shifted by one Sentinel-2 pixel each way.
    scan = cmp.shift_scan(aop_ndvi, ndvi[s2_date], min_valid_fraction=min_aop_fraction)
    shifted = {k: v for k, v in scan.items() if k != (0, 0) and np.isfinite(v)}
    best = max(scan, key=lambda k: scan[k] if np.isfinite(scan[k]) else -np.inf)
    row = {**fit, "aop_date": aop_date or "", "s2_date": s2_date,
           "gap_days": cmp.gap_days(s2_date, aop_date),
           "date_source": "sentinel2.compare_date" if compare_date else "nearest",
           "aop_dates": ";".join(f"{d}:{k}" for d, k in by_date.items()),
           "aop_valid_blocks": int(np.isfinite(aop).sum()),
           "s2_valid_pixels": int(np.isfinite(s2).sum()),
           "min_aop_fraction": min_aop_fraction,
           "r2_shifted_max": max(shifted.values()) if shifted else math.nan,
           "best_shift": f"{best[0]},{best[1]}"}
    if best != (0, 0):
        log.warning("AOP vs Sentinel-2: r2 is highest with the AOP grid shifted by %s "
                    "Sentinel-2 pixel(s) (rows, cols): %s; check the grids' registration.",
                    best, scan)
    with atomic_path(table_path) as tmp:
        pd.DataFrame([row]).to_csv(tmp, index=False)
    gap = "" if math.isnan(row["gap_days"]) else f", gap {row['gap_days']:+.0f} d"
    cmp.plot_hexbin(aop, s2, fit, hexbin_png,
                    title=f"AOP {aop_date or '?'} vs Sentinel-2 {s2_date}{gap}")
    log.info("AOP vs Sentinel-2: %s", row)
    return row


def s2_compare_plots(
    aop_ndvi: str | os.PathLike,
    timeseries_csv: str | os.PathLike,
    compare_table: str | os.PathLike,
    plots_path: str | os.PathLike,
    *,
    table_path: str | os.PathLike,
    png_path: str | os.PathLike,
    id_column: str = "plotID",
    buffer_m: float = 20.0,
    plots_crs: str | None = None,
    x_column: str = "x",
    y_column: str = "y",
    exact: bool = False,
) -> pd.DataFrame:
    """``tables/aop_vs_s2_plots.csv``: per plot, the AOP NDVI mean and the Sentinel-2 NDVI
    mean on the compared date (from the time series), and a scatter labelled by plot id."""
    import rasterio

    cmp_row = pd.read_csv(compare_table, dtype={"s2_date": str, "aop_date": str},
                          keep_default_na=False).iloc[0]
    s2_date = str(cmp_row["s2_date"])
    ts = pd.read_csv(timeseries_csv, dtype={"date": str, id_column: str})
    ts = ts[ts["date"] == s2_date]
    if ts.empty:
        raise InputDataError(
            f"{timeseries_csv} has no rows for the compared date {s2_date} (from "
            f"{compare_table}); rerun the Sentinel-2 products.")
    with rasterio.open(aop_ndvi) as src:
        crs = src.crs
    plots = _plots(plots_path, crs, id_column=id_column, buffer_m=buffer_m, plots_crs=plots_crs,
                   x_column=x_column, y_column=y_column)
    aop = zonal_stats_file(plots, aop_ndvi, band=1, stats=["count", "mean"], exact=exact,
                           id_column=id_column)
    out = pd.DataFrame({id_column: aop[id_column].astype(str).to_numpy(),
                        "aop_count": aop["count"].to_numpy(), "aop_mean": aop["mean"].to_numpy()})
    s2 = ts.set_index(ts[id_column].astype(str))
    out["s2_count"] = out[id_column].map(s2["count"]).to_numpy()
    out["s2_valid_fraction"] = out[id_column].map(s2["valid_fraction"]).to_numpy()
    out["s2_mean"] = out[id_column].map(s2["mean"]).to_numpy()
    out["diff"] = out["s2_mean"] - out["aop_mean"]
    out["aop_date"] = cmp_row["aop_date"]
    out["s2_date"] = s2_date
    with atomic_path(table_path) as tmp:
        out.to_csv(tmp, index=False)
    fit = cmp.fit_stats(out["aop_mean"].to_numpy(float), out["s2_mean"].to_numpy(float))
    cmp.plot_scatter_labelled(out["aop_mean"].to_numpy(float), out["s2_mean"].to_numpy(float),
                              out[id_column].tolist(), fit, png_path,
                              title=f"Plot means: AOP {cmp_row['aop_date'] or '?'} vs "
                                    f"Sentinel-2 {s2_date}")
    log.info("AOP vs Sentinel-2 at %d plots: %s", len(out), fit)
    return out


def s2_compare_bands(
    compare_table: str | os.PathLike,
    aop_bands: str | os.PathLike,
    date_summary: str | os.PathLike,
    reflectance_paths: Sequence[str | os.PathLike],
    *,
    table_path: str | os.PathLike,
    png_path: str | os.PathLike,
    assets: Sequence[str],
    indices: Sequence[str] = (),
    constants: dict | None = None,
    min_aop_fraction: float = 0.5,
) -> pd.DataFrame:
    """``tables/aop_vs_s2_bands.csv``: per Sentinel-2 band and per index, AOP through the
    sensor's SRF and through the nearest band against Sentinel-2, on the date of
    ``tables/aop_vs_s2.csv`` (:mod:`aopflow.sentinel2.compare_bands`), and its r² figure."""
    from aopflow.indices.srf import sensor_of_item
    from aopflow.sentinel2 import compare_bands as cb

    cmp_row = pd.read_csv(compare_table, dtype={"s2_date": str, "aop_date": str},
                          keep_default_na=False).iloc[0]
    s2_date = str(cmp_row["s2_date"])
    refl = _by_date(reflectance_paths)
    if s2_date not in refl:
        raise InputDataError(f"{compare_table} compares {s2_date}, which has no reflectance "
                             f"among the inputs; rerun the Sentinel-2 products.")
    row = next((r for r in read_date_summary(date_summary) if r["date"] == s2_date), None)
    items = [i for i in str(row["item_ids"] if row else "").split(";") if i]
    if not items:
        raise InputDataError(f"{date_summary}: no item ids for {s2_date}; rerun the Sentinel-2 search.")
    sensors = sorted({sensor_of_item(i) for i in items})
    if len(sensors) > 1:
        log.warning("%s: items of several sensors %s; comparing through %s's responses.",
                    s2_date, sensors, sensors[0])
    rows = cb.band_rows(aop_bands, refl[s2_date], assets=assets, sensor=sensors[0],
                        indices=indices, constants=constants, min_valid_fraction=min_aop_fraction)
    out = pd.DataFrame(rows, columns=list(cb.BAND_TABLE_COLUMNS))
    out["aop_date"] = cmp_row["aop_date"]
    out["s2_date"] = s2_date
    with atomic_path(table_path) as tmp:
        out.to_csv(tmp, index=False)
    cb.plot_r2(rows, png_path, title=f"AOP {cmp_row['aop_date'] or '?'} vs Sentinel-2 {s2_date} "
                                     f"({sensors[0]})\nAOP through the SRF or the nearest band")
    for r in rows:
        log.info("%s %s (%s): n=%d r2=%.4f rmse=%.4f bias=%+.4f", r["quantity"], r["name"],
                 r["aop_bands"], r["n"], r["r2"], r["rmse"], r["bias"])
    return out
