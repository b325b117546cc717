"""The workflow end to end on a tiny generated site, lint/format, and bad input."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio

from aopflow.demo.aop import generate_site

from conftest import ROOT, tiny_spec
from smk import new_workflow, snakemake, tiny_demo

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("demo")
    wd, cfg = new_workflow(tmp, **tiny_demo(sentinel2={"source": "demo", "resolution": 20}))
    proc = snakemake(wd, "--configfile", str(cfg))
    return wd, cfg, proc


def test_demo_run_outputs(demo_run):
    wd, _, _ = demo_run
    out = wd / "results" / "DEMO" / "2024"
    for rel in ["tiles.csv", "mosaic/wqi.tif", "mosaic/rgb.tif", "figures/wqi.png", "figures/rgb.png",
                "endmembers.csv", "mosaic/abundance.tif", "mosaic/sam.tif", "mosaic/sid.tif", "mosaic/ndvi.tif",
                "figures/endmembers.png", "figures/abundance.png", "figures/sam.png", "figures/sid.png",
                "tables/mean_abundance.csv", "zonal/ndvi.gpkg", "zonal/ndvi.csv", "zonal/sam.csv",
                "figures/zonal_ndvi_bars.png", "figures/zonal_ndvi_hist.png",
                "downscale/ndvi_40m.tif", "downscale/sam_100m.tif"]:
        assert (out / rel).stat().st_size > 0, rel
    with rasterio.open(out / "mosaic" / "abundance.tif") as m:
        assert m.count == 5 and m.descriptions == ("em1", "em2", "em3", "em4", "em5")
    with rasterio.open(out / "mosaic" / "sam.tif") as m:
        classes = set(np.unique(m.read(1)).tolist())
        assert m.nodata == 255 and classes <= {0, 1, 2, 3, 4, 5, 255} and len(classes & {1, 2, 3, 4, 5}) >= 3
    with rasterio.open(out / "downscale" / "ndvi_40m.tif") as d, rasterio.open(out / "mosaic" / "ndvi.tif") as m:
        assert d.res == (40.0, 40.0) and d.bounds == m.bounds
    zonal = pd.read_csv(out / "zonal" / "ndvi.csv")
    assert list(zonal.columns[:3]) == ["plotID", "plotType", "note"]
    assert {"count", "mean", "p10", "p90"} <= set(zonal.columns) and len(zonal) == 12
    assert (zonal["count"] == 0).sum() >= 1  # the plot in the no-data edge is kept, with count 0
    tiles = sorted(p.name for p in (out / "tiles").iterdir())
    assert tiles == ["500000_4100000", "500000_4101000", "501000_4100000", "501000_4101000"]
    with rasterio.open(out / "mosaic" / "rgb.tif") as m:
        # 2 x 2 tiles of 30 px at 20 m = 600 m each, on the 1 km grid.
        assert m.res == (20.0, 20.0)
        assert tuple(m.bounds) == (500000.0, 4100000.0, 501600.0, 4101600.0)
        assert m.count == 3 and m.crs.to_epsg() == 32611
    with rasterio.open(out / "mosaic" / "wqi.tif") as m:
        vals = set(np.unique(m.read(1)).tolist())
        assert vals <= {0, 1, 2, 3} and len(vals - {0}) >= 2


def test_jobs_run_in_the_job_environment(demo_run):
    """rules/common.smk gives every job aopflow.smk.JOB_ENVIRONMENT unless the user set a
    variable; the job's first log line records what it got."""
    from aopflow.smk import JOB_ENVIRONMENT

    wd, _, _ = demo_run
    logs = wd / "results" / "DEMO" / "2024" / "logs"
    for job_log in [logs / "spectral_tile" / "500000_4100000.log", logs / "h5_to_rgb" / "501000_4101000.log"]:
        text = job_log.read_text()
        for name, value in JOB_ENVIRONMENT.items():
            assert f"{name}={os.environ.get(name, value)}" in text, (job_log, text[:300])


def test_second_run_does_nothing(demo_run):
    wd, cfg, _ = demo_run
    proc = snakemake(wd, "--configfile", str(cfg), "-n")
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_lint_and_format_are_clean():
    lint = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=ROOT, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    snakefmt = shutil.which("snakefmt") or str(Path(sys.executable).parent / "snakefmt")
    fmt = subprocess.run([snakefmt, "--check", "Snakefile", "rules"], cwd=ROOT, capture_output=True, text=True)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_every_stage_is_included_and_registers_its_targets():
    # The layout rules/common.smk documents: the Snakefile includes each stage's rule file, which
    # includes its own <stage>_common.smk; a <stage>_targets() there is appended to
    # STAGE_TARGETS (one left out would silently drop that stage's outputs from rule all).
    rules = ROOT / "rules"
    included = re.findall(r'^include: "rules/(\w+)\.smk"', (ROOT / "Snakefile").read_text(), flags=re.M)
    stages = sorted(p.stem for p in rules.glob("*.smk") if not p.stem.endswith("_common"))
    assert sorted(included) == stages
    for helpers in rules.glob("*_common.smk"):
        if helpers.stem != "common":
            stage = helpers.stem.removesuffix("_common")
            assert f'include: "{helpers.name}"' in (rules / f"{stage}.smk").read_text(), stage
        text = helpers.read_text()
        for fn in re.findall(r"^def (\w+_targets)\(\):", text, flags=re.M):
            assert f"STAGE_TARGETS.append({fn})" in text, (helpers.name, fn)
    assert "def " not in "".join(p.read_text() for p in rules.glob("*.smk") if not p.stem.endswith("common"))


@pytest.mark.parametrize(
    ("override", "key"),
    [("site=demo1", "site"), ("year=1999", "year"), ("source=ftp", "source")],
)
def test_invalid_config_names_the_key(tmp_path, override, key):
    wd, cfg = new_workflow(tmp_path, **tiny_demo())
    proc = snakemake(wd, "--configfile", str(cfg), "--config", override, "-n", check=False)
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert "ValidationError" in text and f"'{key}'" in text


def test_missing_endmember_library_names_the_key(tmp_path):
    wd, cfg = new_workflow(tmp_path, **tiny_demo(endmembers={"library": "spectra/mine.csv"}))
    proc = snakemake(wd, "--configfile", str(cfg), "-n", check=False)
    assert proc.returncode != 0
    assert "endmembers.library: file spectra/mine.csv does not exist" in proc.stdout + proc.stderr


def test_local_source_and_bad_tile(tmp_path):
    spec = tiny_spec(site="LOCL", shape=(2, 1), pixels=20, pixel_size=25.0, bands=80)
    h5_dir = tmp_path / "h5"
    paths = generate_site(spec, h5_dir)
    wd, cfg = new_workflow(tmp_path, site="LOCL", source="local", local={"h5_dir": str(h5_dir)},
                           zonal={"plots": None})
    snakemake(wd, "--configfile", str(cfg))
    out = wd / "results" / "LOCL" / "2024"
    with rasterio.open(out / "mosaic" / "rgb.tif") as m:
        assert tuple(m.bounds) == (500000.0, 4100000.0, 501500.0, 4100500.0)
    # A truncated download in the folder: a clear error naming the file, nothing half-written.
    bad = h5_dir / "NEON_D00_LOCL_DP3_502000_4100000_bidirectional_reflectance.h5"
    bad.write_bytes(paths[0].read_bytes()[:3000])
    proc = snakemake(wd, "--configfile", str(cfg), check=False)
    assert proc.returncode != 0
    assert bad.name in proc.stderr and "not a readable HDF5" in proc.stderr
    assert not (out / "tiles" / "502000_4100000" / "rgb.tif").exists()
    assert not list((out / "tiles").rglob(".*part*"))
    # An aopflow error is shown once per failed job (from its log), never under a traceback;
    # each failed job's log ends with it.
    failed = re.findall(r"^Error in rule (\w+):", proc.stderr, flags=re.M)
    assert failed and "Traceback" not in proc.stdout + proc.stderr
    assert proc.stderr.count("not a readable HDF5") == len(failed), proc.stderr
    logs = re.findall(r"^    log: (\S+) \(check log file", proc.stderr, flags=re.M)
    assert len(logs) == len(failed)
    for log in logs:
        text = (wd / log).read_text()
        assert "Traceback" not in text and text.count("not a readable HDF5") == 1
        assert text.rstrip().splitlines()[-1].endswith("delete it and fetch it again.")


def test_threshold_list_length_fails_before_any_job(tmp_path):
    wd, cfg = new_workflow(tmp_path, **tiny_demo(classify={"sam_max_angle": [0.1, 0.2, 0.3]}))
    proc = snakemake(wd, "--configfile", str(cfg), check=False)
    assert proc.returncode != 0
    assert "classify.sam_max_angle has 3 values [0.1, 0.2, 0.3] but there are 5 endmembers, set by endmembers.n" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (wd / "results").exists()  # no job ran


@pytest.mark.parametrize("key", ["zonal.plots", "sentinel2.source"])
def test_demo_data_with_another_source_fails_before_any_job(tmp_path, key):
    # The shipped zonal.plots / sentinel2.source: demo with a folder of the user's own tiles.
    spec = tiny_spec(site="LOCL", shape=(1, 1), pixels=10, pixel_size=25.0, bands=20)
    generate_site(spec, tmp_path / "h5")
    section, name = key.split(".")
    off = {"zonal": {"plots": None}, "sentinel2": {"source": None}}
    wd, cfg = new_workflow(tmp_path, site="LOCL", source="local", local={"h5_dir": str(tmp_path / "h5")},
                           **{**off, section: {name: "demo"}})
    proc = snakemake(wd, "--configfile", str(cfg), "-n", check=False)
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr  # a dry run reports on stdout
    message = f"{key} is 'demo', but the generated demo data exists only for source: demo"
    assert text.count(message) == 1, text
    assert f"this run uses source: local; set {key} to " in text and "or to null" in text
    assert "Traceback" not in text and not (wd / "results").exists()


def test_local_tile_outside_its_named_cell(tmp_path):
    spec = tiny_spec(site="LOCL", shape=(1, 1), pixels=20, pixel_size=25.0, bands=80)
    h5_dir = tmp_path / "h5"
    (path,) = generate_site(spec, h5_dir)
    path.rename(h5_dir / path.name.replace("500000_4100000", "507000_4100000"))
    wd, cfg = new_workflow(tmp_path, site="LOCL", source="local", local={"h5_dir": str(h5_dir)},
                           zonal={"plots": None})
    proc = snakemake(wd, "--configfile", str(cfg), check=False)
    assert proc.returncode != 0
    assert "outside the 1000 m grid cell 507000_4100000" in proc.stderr


EXPECTED_FIGURES = {"wqi.png", "rgb.png", "endmembers.png", "abundance.png", "sam.png", "sid.png", "ndvi.png",
                    "mean_abundance.png", "s2_ndvi_dates.png", "s2_valid_fraction.png",
                    "s2_composite.png", "s2_ndvi_timeseries.png", "s2_aop_vs_s2.png", "s2_aop_vs_s2_plots.png"}

# Loads every image embedded in the report into an <img> and reports its natural size.
RENDER_ALL = """
const done = arguments[arguments.length - 1];
const entries = Object.entries(results).filter(([k, v]) => v.mime_type === "image/png");
Promise.all(entries.map(([k, v]) => new Promise(resolve => {
    const img = new Image();
    img.onload = () => resolve([k, img.naturalWidth, img.naturalHeight, !!v.caption]);
    img.onerror = () => resolve([k, 0, 0, !!v.caption]);
    img.src = v.data_uri;
}))).then(done);
"""


@pytest.mark.browser
def test_html_report_renders_every_figure(demo_run, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from browser import chromium_driver

    wd, cfg, _ = demo_run
    report = wd / "report.html"
    snakemake(wd, "--configfile", str(cfg), "--report", str(report))
    driver = chromium_driver()
    try:
        driver.set_script_timeout(60)
        driver.get(report.as_uri())
        rendered = driver.execute_async_script(RENDER_ALL)
        names = {Path(k).name: (w, h, cap) for k, w, h, cap in rendered}
        zonal = {n for n in names if n.startswith("zonal_")}
        assert EXPECTED_FIGURES <= set(names), set(names)
        assert {"zonal_ndvi_bars.png", "zonal_ndvi_hist.png", "zonal_sam_bars.png"} <= zonal
        for name, (w, h, has_caption) in names.items():
            assert w > 0 and h > 0, f"{name} did not render"
            assert has_caption, f"{name} has no caption"
        tables = driver.execute_script(
            "return Object.keys(results).filter(k => results[k].mime_type === 'text/csv' && results[k].caption)")
        assert {Path(t).name for t in tables} >= {"ndvi.csv", "sam.csv", "mean_abundance.csv", "aop_vs_s2.csv",
                                                  "aop_vs_s2_plots.csv", "ndvi_timeseries.csv"}
        # Through the report's own UI: open "Site overview", show the WQI map.
        [link] = [e for e in driver.find_elements(By.CSS_SELECTOR, "a, button") if e.text == "Site overview"]
        link.click()
        row = WebDriverWait(driver, 20).until(
            lambda d: d.find_element(By.XPATH, "//td[contains(text(), 'figures/wqi.png')]/.."))
        row.find_element(By.CSS_SELECTOR, "a[iconname='eye']").click()
        img = WebDriverWait(driver, 20).until(
            lambda d: [i for i in d.find_elements(By.TAG_NAME, "img")
                       if i.get_attribute("src").startswith("data:image/png")
                       and driver.execute_script("return arguments[0].naturalWidth", i) > 0])
        assert img
        shot = tmp_path / "report_wqi.png"
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
    finally:
        driver.quit()
