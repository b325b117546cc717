"""The publish stage in the workflow, on the tiny demo site: the catalog and the map are made
by a plain run, the catalog validates offline and covers every mosaic and downscaled product,
and changing one product reruns its producer and the two publish jobs, nothing upstream."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pystac
import pytest

from smk import copy_run, jobs_of, new_workflow, snakemake, tiny_demo
from stac_offline import no_network, validate_offline  # noqa: F401 (fixture)

pytestmark = pytest.mark.workflow

OUT = Path("results/DEMO/2024")
# Without the spectral stage (the slow part of the tiny run, tested elsewhere): the RGB and
# WQI mosaics, zonal statistics and a downscaled WQI keep those stages in the DAG.
STAGES = {"spectral": False, "zonal": {"rasters": ["wqi"]},
          "downscale": {"products": ["wqi"], "resolutions": [40]},
          "publish": {"stac": True, "map": True}}


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("publish")
    wd, cfg = new_workflow(tmp, **tiny_demo(**STAGES))
    snakemake(wd, "--configfile", str(cfg))
    return wd, cfg


def test_catalog_and_map_of_a_plain_run(base_run, no_network):
    wd, cfg = base_run
    root = wd / OUT
    cat = pystac.Catalog.from_file(str(root / "stac/catalog.json"))
    items = {i.id for i in cat.get_items(recursive=True)}
    mosaics = {p.stem for p in (root / "mosaic").glob("*.tif")}
    assert mosaics and mosaics <= items
    assert {"rgb", "wqi", "wqi_40m"} <= items
    messages = validate_offline(root / "stac/catalog.json")
    assert all(m["valid_stac"] for m in messages), json.dumps(messages, indent=1)[:3000]
    page = (root / "map.html").read_text()
    data = json.loads(re.search(r'<script id="aopflow-data" type="application/json">(.*?)</script>',
                                page, re.S).group(1))
    assert {l["name"] for l in data["layers"]} == mosaics | {"wqi_40m"}
    plots = pd.read_csv(root / "zonal/wqi.csv", dtype={"plotID": str})["plotID"]
    assert {f["properties"]["plotID"] for f in data["plots"]["features"]} == set(plots)
    tiles = pd.read_csv(root / "tiles.csv", dtype={"tile": str})["tile"]
    assert {f["properties"]["tile"] for f in data["tiles"]["features"]} == set(tiles)


def test_a_changed_product_reruns_only_its_job_and_publishing(base_run, tmp_path):
    wd = copy_run(base_run[0], tmp_path / "wd")
    cfg = wd / base_run[1].name
    (wd / OUT / "downscale/wqi_40m.tif").unlink()
    plan = jobs_of(snakemake(wd, "--configfile", str(cfg), "-n").stdout)
    assert {rule for rule, _ in plan} == {"downscale", "publish_catalog", "publish_map", "all"}
    before = json.loads((wd / OUT / "stac/catalog.json").read_text())
    snakemake(wd, "--configfile", str(cfg))
    assert json.loads((wd / OUT / "stac/catalog.json").read_text()) == before
    assert "Nothing to be done" in snakemake(wd, "--configfile", str(cfg), "-n").stdout


@pytest.mark.browser
def test_report_lists_the_map_and_the_catalog(base_run):
    from browser import chromium_driver

    wd, cfg = base_run
    report = wd / "report.html"
    snakemake(wd, "--configfile", str(cfg), "--report", str(report))
    driver = chromium_driver()
    try:
        driver.get(report.as_uri())
        entries = driver.execute_script(
            "return Object.entries(results).map(([k, r]) => [k, r.mime_type, r.caption])")
    finally:
        driver.quit()
    by_name = {Path(k).name: (mime, caption) for k, mime, caption in entries}
    assert by_name["map.html"][0] == "text/html", by_name.get("map.html")
    assert "stac/catalog.json" in by_name["map.html"][1]  # the caption names the catalog
    assert "catalog.json" in by_name
    assert "map.html" in by_name["catalog.json"][1] or "STAC" in by_name["catalog.json"][1]
