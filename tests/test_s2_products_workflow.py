"""The Sentinel-2 products in the workflow (demo source, offline): outputs of one run, the report
in headless Chromium, and incremental reruns (dry-run plans, as tests/test_incremental.py does).

Rerun sets (each checked exactly, over the targets of the S2 stage and products, the zonal
stage and the downscaled S2 products):
* a plots edit: the zonal job, the NDVI time series and the plot-level comparison (a plot
  product too), nothing else;
* ``sentinel2.compare_date``: the comparison (grid and plots), nothing else;
* a new date (wider ``datetime``): the search, that date's job, the date summary and the S2
  stage's figures, the composites, the time series, the comparison and the downscaled
  composites; no other date's job, no AOP job.
"""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
import yaml

from smk import assert_block_mean, copy_run, job_reasons, new_workflow, snakemake, update_config

pytestmark = pytest.mark.workflow

OUT = Path("results/DEMO/2024")
FIRST = "2024-04-01/2024-09-30"  # four used dates and the clouded 2024-09-13
WIDER = "2024-04-01/2024-10-31"  # adds 2024-10-18
DATES = ["2024-04-18", "2024-05-23", "2024-06-15", "2024-08-04", "2024-09-13"]
MONTHS = ["2024-04", "2024-05", "2024-06", "2024-08", "2024-09"]
DOWNSCALED = ["s2_ndvi_median", "s2_valid_count", "s2_ndvi_2024-06-15"]
S2P_FIGURES = {"s2_composite.png", "s2_ndvi_timeseries.png", "s2_aop_vs_s2.png",
               "s2_aop_vs_s2_plots.png"}
S2P_TABLES = {"ndvi_timeseries.csv", "aop_vs_s2.csv", "aop_vs_s2_plots.csv"}


def targets() -> list[str]:
    t = [f"{OUT}/{p}" for p in (
        "s2/date_summary.csv", "figures/s2_ndvi_dates.png", "figures/s2_valid_fraction.png",
        "s2/composite/ndvi_median.tif", "s2/composite/reflectance_median.tif",
        "s2/composite/valid_count.tif", "figures/s2_composite.png",
        "s2/ndvi_timeseries.csv", "s2/ndvi_timeseries.gpkg",
        "figures/s2_ndvi_timeseries.png", "tables/aop_vs_s2.csv", "figures/s2_aop_vs_s2.png",
        "tables/aop_vs_s2_plots.csv", "figures/s2_aop_vs_s2_plots.png", "zonal/ndvi.csv")]
    t += [f"{OUT}/s2/composite/{m}/ndvi_median.tif" for m in MONTHS]
    t += [f"{OUT}/downscale/{p}_50m.tif" for p in DOWNSCALED]
    return t


def write_plots(path: Path, shift: float = 0.0) -> Path:
    """Six disc plots inside the demo site's first tile (x 500000-500500, y 4100000-4100500)."""
    pts = [(500060, 4100440), (500200, 4100300), (500330, 4100120), (500450, 4100450),
           (500120, 4100100), (500400, 4100260)]
    gdf = gpd.GeoDataFrame({"plotID": [f"P{i}" for i in range(len(pts))]},
                           geometry=[shapely.Point(x + shift, y) for x, y in pts],
                           crs="EPSG:32611")
    if path.exists():
        path.unlink()
    gdf.to_file(path, driver="GPKG")
    return path


def config(plots: Path) -> dict:
    """The demo site at 10 m (2 x 2 tiles of 50 px, 60 bands), S2 demo scenes at 10 m."""
    return {
        "demo": {"shape": [2, 2], "pixels": 50, "pixel_size": 10.0, "bands": 60, "seed": 5},
        "zonal": {"plots": str(plots), "rasters": ["ndvi"], "buffer_m": 25},
        "downscale": {"resolutions": [50], "products": DOWNSCALED},
        "sentinel2": {"source": "demo", "datetime": FIRST, "composite": {"period": "month"}},
    }


def sentinel2(cfg: Path) -> dict:
    return yaml.safe_load(cfg.read_text())["sentinel2"]


def plan(wd: Path, cfg: Path) -> dict[tuple[str, str], str]:
    return job_reasons(snakemake(wd, *targets(), "--configfile", str(cfg), "-n").stdout)


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("s2p")
    plots = write_plots(tmp / "plots.gpkg")
    wd, cfg = new_workflow(tmp, **config(plots))
    snakemake(wd, *targets(), "--configfile", str(cfg), timeout=1800)
    return wd, cfg, plots


def test_outputs(base_run):
    wd, _, _ = base_run
    out = wd / OUT
    with rasterio.open(out / "s2/composite/ndvi_median.tif") as m, \
            rasterio.open(out / "s2/composite/valid_count.tif") as c:
        assert m.res == (10.0, 10.0) and c.dtypes[0] == "uint16"
        assert m.tags()["dates"] == "2024-04-18;2024-05-23;2024-06-15;2024-08-04"
        count = c.read(1)
        assert count.max() <= 4 and (count > 0).mean() > 0.9
    for month in MONTHS:
        assert (out / f"s2/composite/{month}/valid_count.tif").exists()
    ts = pd.read_csv(out / "s2/ndvi_timeseries.csv")
    assert len(ts) == 6 * len(DATES) and sorted(set(ts["date"])) == DATES
    assert {"p10", "p90", "valid_fraction", "used"} <= set(ts.columns)
    assert (ts.loc[ts["date"] == "2024-09-13", "count"] == 0).all()  # clouds over the site
    row = pd.read_csv(out / "tables/aop_vs_s2.csv").iloc[0]
    assert row["s2_date"] == "2024-06-15" and row["aop_date"] == "2024-06-11"
    assert row["r2"] >= 0.9 and row["best_shift"] == "0,0"
    plots = pd.read_csv(out / "tables/aop_vs_s2_plots.csv")
    assert len(plots) == 6 and (plots["s2_date"] == "2024-06-15").all()
    for p in DOWNSCALED:
        with rasterio.open(out / f"downscale/{p}_50m.tif") as d:
            assert d.res == (50.0, 50.0)
    assert_block_mean(out / "downscale/s2_ndvi_median_50m.tif", out / "s2/composite/ndvi_median.tif")


def test_every_ndvi_output_is_in_the_unit_interval(base_run):
    """The NDVI rule (docs/ndvi.md) in a whole run: AOP tiles, mosaic, per-date, composites,
    downscaled products; and the date summary carries the scaling check's columns."""
    wd, _, _ = base_run
    out = wd / OUT
    paths = [*out.glob("tiles/*/ndvi.tif"), out / "mosaic/ndvi.tif", *out.glob("s2/dates/*/ndvi.tif"),
             *out.glob("s2/composite/**/ndvi_median.tif"), *out.glob("downscale/*ndvi*.tif")]
    assert len(paths) == 4 + 1 + len(DATES) + 1 + len(MONTHS) + 2
    empty = []
    for p in paths:
        with rasterio.open(p) as src:
            a = src.read(1)
        valid = a[np.isfinite(a)]
        if not valid.size:
            empty.append(p.parent.name)
            continue
        assert valid.min() >= -1 and valid.max() <= 1, p
    # Clouds over the whole site on 2024-09-13, the only (and unused) date of September.
    assert sorted(empty) == ["2024-09", "2024-09-13"]
    summary = pd.read_csv(out / "s2/date_summary.csv")
    assert {"negative_share", "scaling_flag", "scaling_note", "scale_offset_applied"} <= set(summary.columns)
    assert not summary["scaling_flag"].any() and (summary["negative_share"].dropna() < 0.05).all()
    assert summary["scale_offset_applied"].str.contains("red:0.0001/-0.1").all()


@pytest.mark.browser
def test_report_renders_sentinel2_products(base_run):
    from browser import chromium_driver
    from test_workflow import RENDER_ALL

    wd, cfg, _ = base_run
    report = wd / "report.html"
    snakemake(wd, *targets(), "--configfile", str(cfg), "--report", str(report))
    driver = chromium_driver()
    try:
        driver.set_script_timeout(60)
        driver.get(report.as_uri())
        rendered = {Path(k).name: (w, h, cap) for k, w, h, cap in
                    driver.execute_async_script(RENDER_ALL)}
        assert S2P_FIGURES <= set(rendered), set(rendered)
        for name in S2P_FIGURES:
            w, h, has_caption = rendered[name]
            assert w > 0 and h > 0 and has_caption, name
        # The report's global `categories`: category -> subcategory -> result paths.
        s2 = driver.execute_script(
            "return Object.values(categories['Sentinel-2'] || {}).flat()")
        s2 = {Path(k).name for k in s2}
        assert S2P_FIGURES | S2P_TABLES <= s2, s2
        captioned = driver.execute_script(
            "return Object.keys(results).filter(k => results[k].caption)")
        assert S2P_TABLES <= {Path(k).name for k in captioned}
    finally:
        driver.quit()


def test_plots_edit_reruns_only_plot_jobs(base_run, tmp_path):
    wd, cfg, plots = base_run
    wd2 = copy_run(wd, tmp_path / "wf")
    moved = write_plots(tmp_path / "plots.gpkg", shift=10.0)
    cfg2 = update_config(wd2 / cfg.name, zonal={"plots": str(moved)})
    assert set(plan(wd2, cfg2)) == {("zonal", "zname=ndvi"), ("s2_timeseries", ""),
                                    ("s2_compare_plots", "")}


def test_compare_date_reruns_only_the_comparison(base_run, tmp_path):
    wd, cfg, _ = base_run
    wd2 = copy_run(wd, tmp_path / "wf")
    cfg2 = update_config(wd2 / cfg.name,
                         sentinel2={**sentinel2(wd2 / cfg.name), "compare_date": "2024-08-04"})
    jobs = plan(wd2, cfg2)
    assert set(jobs) == {("s2_compare", ""), ("s2_compare_plots", "")}
    assert "Params have changed" in jobs[("s2_compare", "")]
    # The real run compares with that date.
    snakemake(wd2, *targets(), "--configfile", str(cfg2))
    assert pd.read_csv(wd2 / OUT / "tables/aop_vs_s2.csv")["s2_date"][0] == "2024-08-04"


def test_new_date_reruns_its_job_and_the_products(base_run, tmp_path):
    wd, cfg, _ = base_run
    wd2 = copy_run(wd, tmp_path / "wf")
    cfg2 = update_config(wd2 / cfg.name, sentinel2={**sentinel2(wd2 / cfg.name), "datetime": WIDER})
    before = {p: p.stat().st_mtime_ns for p in (wd2 / OUT / "s2/dates").rglob("*.tif")}
    proc = snakemake(wd2, *targets(), f"{OUT}/s2/composite/2024-10/ndvi_median.tif",
                     "--configfile", str(cfg2))
    log = proc.stdout + proc.stderr
    # The search is a (local) checkpoint: snakemake lists it as "localcheckpoint s2_search:".
    assert re.search(r"^\s*(local)?checkpoint s2_search:", log, re.M)
    ran = set(job_reasons(log)) - {("s2_search", "")}
    assert ran == {
        ("s2_date", "date=2024-10-18"), ("s2_summary", ""),
        ("s2_figure_ndvi", ""), ("s2_figure_valid", ""),
        ("s2_composite", ""), *{("s2_composite_period", f"s2period={m}") for m in
                                [*MONTHS, "2024-10"]},
        ("s2_timeseries", ""), ("s2_compare", ""), ("s2_compare_plots", ""),
        ("downscale", "product=s2_ndvi_median, res=50"),
        ("downscale", "product=s2_valid_count, res=50"),
    }, sorted(ran)
    # No other date's per-date product was rewritten.
    assert all(p.stat().st_mtime_ns == t for p, t in before.items())
    ts = pd.read_csv(wd2 / OUT / "s2/ndvi_timeseries.csv")
    assert "2024-10-18" in set(ts["date"])
