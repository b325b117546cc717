"""Stage `sentinel2` (rules/sentinel2.smk): site grid -> search checkpoint (items.json,
dates.csv) -> one job per solar date (reflectance.tif, ndvi.tif, summary.csv) -> site-level
date_summary.csv and figures.

Algorithms live in :mod:`aopflow.sentinel2` (grid, search, scaling, load); this module wires
files to them.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from aopflow.errors import ConfigError, InputDataError
from aopflow.io import atomic_path
from aopflow.ndvi import normalized_difference
from aopflow.sentinel2 import dates as s2dates
from aopflow.sentinel2 import search as s2search
from aopflow.sentinel2.grid import SiteGrid, site_grid
from aopflow.sentinel2.load import load_date, write_cog
from aopflow.sentinel2.scaling import NEGATIVE_SHARE_MAX

log = logging.getLogger(__name__)



def check_config(cfg: dict, aop_pixel_size: float | None = None) -> None:
    """Start-up checks of the ``sentinel2`` block beyond the schema (the schema checks types)."""
    from aopflow.sentinel2.grid import check_resolution

    check_resolution(cfg["resolution"], aop_pixel_size)
    missing = [b for b in ("red", "nir") if b not in cfg["bands"]]
    if missing:
        raise ConfigError(f"sentinel2.bands: {cfg['bands']} lacks {missing}; NDVI needs the red and nir assets.")
    if "scl" in cfg["bands"]:
        raise ConfigError("sentinel2.bands: 'scl' is the cloud mask (always read); list reflectance assets only.")
    s2search.parse_datetime_range(cfg["datetime"])


def make_grid(tiles_csv, grid_json, *, resolution: float, area="site", plots_path=None, plots_buffer_m=100.0,
              aop_pixel_size=None, epsg_from_h5=None, plots_options: dict | None = None) -> Path:
    """Write the site grid (``grid.json``) of ``area`` from the site's tile listing.

    ``plots_options`` are the zonal stage's plot-reading options (``id_column``, ``buffer_m``,
    ``plots_crs``, ``x_column``, ``y_column``), so that the grid covers the plots the zonal and
    time-series jobs read.
    """
    epsg = None
    if epsg_from_h5:
        from aopflow.neon.reader import read_meta

        epsg = read_meta(epsg_from_h5).epsg
    plots_bounds = None
    if area == "plots":
        if not plots_path:
            raise ConfigError("sentinel2.area is 'plots' but zonal.plots is not set; give a plots file or "
                              "use area: site.")
        from aopflow.sentinel2.grid import tiles_bounds
        from aopflow.zonal import read_plots

        crs_epsg, _ = tiles_bounds(tiles_csv, epsg)
        opts = dict(plots_options or {})
        if "plots_crs" in opts:
            opts["crs"] = opts.pop("plots_crs")
        plots = read_plots(plots_path, target_crs=f"EPSG:{crs_epsg}", **opts)
        plots_bounds = tuple(float(v) for v in plots.total_bounds)
    grid = site_grid(tiles_csv, resolution, area=area, plots_bounds=plots_bounds, plots_buffer_m=plots_buffer_m,
                     epsg=epsg, aop_pixel_size=aop_pixel_size)
    log.info("site grid: %s, %d x %d px of %g m, bounds %s", grid.crs, grid.width, grid.height,
             grid.resolution, grid.bounds)
    return grid.write(grid_json)


def search(grid_json, items_json, dates_csv, *, source: str, api_url: str, collection: str, datetime: str,
           max_cloud_cover: float, max_items: int, bands: Sequence[str], static_items=None) -> Path:
    """The search checkpoint: items over the grid's area -> ``items.json`` and ``dates.csv``."""
    grid = SiteGrid.read(grid_json)
    bbox = grid.bounds_4326()
    if source == "demo":
        if not static_items:
            raise ConfigError("sentinel2.source is 'demo' but no demo ItemCollection was given.")
        items = s2search.search_static(static_items, bbox=bbox, datetime=datetime, max_cloud_cover=max_cloud_cover,
                                       max_items=max_items, collection=collection)
    else:
        items = s2search.search_api(api_url, collection, bbox=bbox, datetime=datetime,
                                    max_cloud_cover=max_cloud_cover, max_items=max_items)
    lon, _ = grid.centre_lonlat()
    groups = s2search.group_by_date(items, lon)
    rows = s2search.date_rows(groups, bands)
    log.info("%d item(s) on %d solar date(s): %s", len(items), len(rows), [r["date"] for r in rows])
    s2search.write_item_collection(s2search.sort_items(items), items_json)
    return s2dates.write_dates_csv(rows, dates_csv)


def date_items(items_json, date: str, lon: float | None = None, assets: Sequence[str] = ()) -> list[dict]:
    """The (trimmed) items of one solar date from ``items.json`` and ``dates.csv`` beside it."""
    dates = {r["date"]: r["item_ids"].split(";") for r in s2dates.read_dates_csv(Path(items_json).parent / "dates.csv")}
    if date not in dates:
        raise InputDataError(f"date {date} is not in {Path(items_json).parent / 'dates.csv'}.")
    by_id = {it["id"]: it for it in s2search.read_item_collection(items_json)}
    return [s2search.trim_item(by_id[i], assets) for i in dates[date]]


def process_date(grid_json, items: Sequence[dict], date: str, reflectance_tif, ndvi_tif, summary_csv, *,
                 bands: Sequence[str], mask_classes: Sequence[int], offset: str = "metadata",
                 negative_share_max: float = NEGATIVE_SHARE_MAX, threads: int = 1, max_connections: int = 4) -> Path:
    """One solar date: load ``items`` onto the grid (scale/offset per ``offset``, each item's
    scaling checked against ``negative_share_max``), write reflectance/NDVI COGs and the
    date's ``summary.csv`` row (valid fraction and scaling columns, collected by
    :func:`summarise`). NDVI follows :func:`aopflow.ndvi.normalized_difference`."""
    grid = SiteGrid.read(grid_json)
    log.info("date %s: items %s; bands %s; mask SCL classes %s; sentinel2.offset %s; %d thread(s), "
             "<= %d connection(s)", date, [it["id"] for it in items], list(bands), list(mask_classes), offset,
             threads, max_connections)
    prod = load_date(items, grid, bands, mask_classes, offset=offset, negative_share_max=negative_share_max,
                     threads=threads, max_connections=max_connections)
    nd = normalized_difference(prod.band("nir"), prod.band("red"))
    n_valid = int(prod.valid.sum())
    n_area = grid.width * grid.height
    scaling = prod.scaling_columns()
    tags = {"date": date, "items": ";".join(prod.items), "mask_classes": ",".join(map(str, mask_classes)),
            "scale_offset": scaling["scale_offset_applied"], "offset_source": offset,
            "scaling_flag": scaling["scaling_flag"]}
    write_cog(reflectance_tif, prod.reflectance, grid, band_names=list(bands), tags=tags, threads=threads)
    write_cog(ndvi_tif, nd, grid, band_names=["ndvi"], tags=tags, threads=threads)
    frac = n_valid / n_area if n_area else 0.0
    log.info("date %s: %d of %d pixels valid (%.3f), %d with an NDVI", date, n_valid, n_area, frac,
             int(np.isfinite(nd).sum()))
    if scaling["scaling_flag"] == "true":
        log.warning("date %s: scaling flagged: %s", date, scaling["scaling_note"])
    row = {"date": date, "valid_fraction": f"{frac:.6f}", "n_valid": n_valid, "n_area_pixels": n_area, **scaling}
    return s2dates.write_dates_csv([row], summary_csv, s2dates.SUMMARY_COLUMNS)


def summarise(dates_csv, summary_csvs: Sequence[str | os.PathLike], out_csv, *, min_valid_fraction: float) -> Path:
    """``date_summary.csv``: the search's ``dates.csv`` + each date's ``valid_fraction`` and
    scaling columns from its per-date ``summary.csv`` + ``used`` (valid_fraction >=
    min_valid_fraction); see :mod:`aopflow.sentinel2.dates`."""
    rows = s2dates.read_dates_csv(dates_csv)
    per_date = {}
    for p in summary_csvs:
        for r in s2dates.read_summary_csv(p):
            per_date[r["date"]] = r
    for r in rows:
        if r["date"] not in per_date:
            raise InputDataError(f"{dates_csv}: date {r['date']} has no per-date summary among the inputs.")
        d = per_date[r["date"]]
        frac = float(d["valid_fraction"])
        r["valid_fraction"] = f"{frac:.6f}"
        r["used"] = str(frac >= min_valid_fraction).lower()
        r.update({k: d[k] for k in s2dates.SCALING_COLUMNS})
    unused = [r["date"] for r in rows if r["used"] == "false"]
    if unused:
        log.info("dates below min_valid_fraction %g (listed, not used downstream): %s", min_valid_fraction, unused)
    flagged = [r["date"] for r in rows if r["scaling_flag"] == "true"]
    if flagged:
        log.warning("dates whose scaling is doubtful (scaling_flag; still used if valid, see scaling_note and "
                    "their s2_date logs; sentinel2.offset overrides the offset): %s", flagged)
    return s2dates.write_dates_csv(rows, out_csv, s2dates.DATE_SUMMARY_COLUMNS)


def ndvi_figure(date_summary_csv, ndvi_tifs: Sequence[str | os.PathLike], png, *, ncols: int = 4) -> Path:
    """Small multiples of every date's NDVI (masked pixels grey; the titles of unused dates and of
    dates with a flagged scaling say so)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import rasterio

    rows = {r["date"]: r for r in s2dates.read_date_summary(date_summary_csv)}
    paths = sorted(ndvi_tifs, key=lambda p: Path(p).parent.name)
    n = max(1, len(paths))
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    aspect = 1.0
    if paths:
        with rasterio.open(paths[0]) as src:
            aspect = src.height / max(1, src.width)
    panel_w = 3.2
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_w * ncols + 1.0, (panel_w * aspect + 0.5) * nrows + 0.5),
                             squeeze=False, constrained_layout=True)
    cmap = plt.get_cmap("RdYlGn").with_extremes(bad="#9a9a9a")
    im = None
    for ax, p in zip(axes.flat, paths):
        date = Path(p).parent.name
        with rasterio.open(p) as src:
            f = max(1, math.ceil(max(src.width, src.height) / 600))
            arr = src.read(1, out_shape=(math.ceil(src.height / f), math.ceil(src.width / f)))
            b = src.bounds
        im = ax.imshow(np.ma.masked_invalid(arr), cmap=cmap, vmin=-0.2, vmax=1.0,
                       extent=(b.left / 1000, b.right / 1000, b.bottom / 1000, b.top / 1000))
        r = rows.get(date, {})
        frac = r.get("valid_fraction", float("nan"))
        used = r.get("used", True)
        flag = " scaling?" if r.get("scaling_flag") else ""
        ax.set_title(f"{date}  valid {frac:.0%}" + ("" if used else " (not used)") + flag, fontsize=9,
                     color="black" if used and not flag else "#b00000")
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(paths):]:
        ax.set_axis_off()
    if im is not None:
        fig.colorbar(im, ax=axes, shrink=0.9, fraction=0.03, label="NDVI (grey: masked)")
    fig.suptitle("Sentinel-2 NDVI per date (km, site CRS)")
    with atomic_path(png) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return Path(png)


def valid_fraction_figure(date_summary_csv, png, *, min_valid_fraction: float) -> Path:
    """Bar chart of the valid fraction per date, the threshold as a line; unused dates in grey."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = s2dates.read_date_summary(date_summary_csv)
    dates = [r["date"] for r in rows]
    fr = [r["valid_fraction"] for r in rows]
    colors = ["#2c7fb8" if r["used"] else "#bdbdbd" for r in rows]
    fig, ax = plt.subplots(figsize=(max(5.0, 0.5 * len(rows) + 2), 3.6), constrained_layout=True)
    ax.bar(range(len(rows)), fr, color=colors)
    ax.axhline(min_valid_fraction, color="#d62728", ls="--", lw=1, label=f"min_valid_fraction {min_valid_fraction:g}")
    ax.set_xticks(range(len(rows)), dates, rotation=60, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("valid fraction of the area")
    ax.set_title("Sentinel-2 valid fraction per date (grey: not used)", fontsize=10)
    ax.legend(loc="upper right", fontsize=8)
    with atomic_path(png) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return Path(png)


def demo_scenes(items_json, *, spec: dict, resolution: float, aop_demo: dict, site: str, year: int) -> Path:
    """``sentinel2.source: demo``: generated scenes of the AOP demo site (aopflow.demo.sentinel2)
    written beside ``items_json`` (``scenes/``, ``truth/``), the ItemCollection last."""
    from aopflow.demo.sentinel2 import S2DemoSpec, write_demo_scenes
    from aopflow.stages.demo import demo_spec

    out = write_demo_scenes(demo_spec(site, year, aop_demo), S2DemoSpec.from_config(spec), Path(items_json).parent,
                            resolution=resolution)
    if Path(out) != Path(items_json):
        raise InputDataError(f"demo generator wrote {out}, expected {items_json}.")
    return Path(items_json)
