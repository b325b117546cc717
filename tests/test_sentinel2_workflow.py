"""The Sentinel-2 stage end to end with ``source: stac`` against real loopback servers
(stac-fastapi-pgstac over PostgreSQL + PostGIS, and a Range-capable COG server; see
tests/s2_servers.py), on the demo scenes: filters, solar dates, values against the ground truth
and the COG DNs, bytes read, incremental reruns and faults."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import from_bounds

from aopflow.demo.sentinel2 import BAND_KEYS, load_truth, rewrite_hrefs
from aopflow.errors import ConfigError
from aopflow.sentinel2.search import search_api

from s2_servers import cog_server, s2_demo, stac_api  # noqa: F401  (pytest fixtures)
from smk import copy_run, jobs_of, new_workflow, snakemake, update_config

pytestmark = pytest.mark.workflow

OUT = Path("results/DEMO/2024")
FIRST = "2021-07-01/2024-08-31"   # the pre-04.00 scene of 2021 and four 2024 dates
WIDER = "2021-07-01/2024-10-31"   # adds 2024-09-13 and 2024-10-18
MASK = [0, 1, 3, 8, 9, 10]
SITE_ZONE_ITEM = "S2B_11SMB_20240615_0_L2A"
OTHER_ZONE_ITEM = "S2B_10SBG_20240615_0_L2A"
CLOUDY_ITEM = "S2A_11SMB_20240710_0_L2A"   # eo:cloud_cover 62 %
PRE04_ITEM = "S2A_11SMB_20210720_0_L2A"
TARGETS = [str(OUT / "s2/date_summary.csv"), str(OUT / "figures/s2_ndvi_dates.png"),
           str(OUT / "figures/s2_valid_fraction.png")]


def s2_config(api_url: str, **kw) -> dict:
    """The demo AOP site (the geometry the demo scenes were made for; few bands, no spectral
    stage, since only tiles.csv is needed) with Sentinel-2 from the STAC API."""
    s2 = {"source": "stac", "api_url": api_url, "datetime": FIRST, "max_connections": 2}
    s2.update(kw)
    return {"demo": {"bands": 60}, "spectral": False, "sentinel2": s2}


def read_csv(path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def s2_jobs(proc) -> set[tuple[str, str]]:
    return {j for j in jobs_of(proc.stdout + proc.stderr) if j[0].startswith("s2_")}


@pytest.fixture(scope="module")
def stac_run(tmp_path_factory, stac_api, cog_server):
    tmp = tmp_path_factory.mktemp("s2wf")
    wd, cfg = new_workflow(tmp, **s2_config(stac_api.url))
    cog_server.reset_log()
    proc = snakemake(wd, *TARGETS, "--configfile", str(cfg))
    return wd, cfg, proc, cog_server.log()


def test_search_filters_and_dates(stac_run, stac_api):
    wd, _, _, _ = stac_run
    items = json.loads((wd / OUT / "s2/items.json").read_text())["features"]
    ids = {it["id"] for it in items}
    assert CLOUDY_ITEM not in ids and PRE04_ITEM in ids
    # The server filtered (the cloudy scene was not in the response; the re-check dropped nothing).
    log = (wd / OUT / "logs/s2_search.log").read_text()
    assert f"{len(items)} item(s) returned" in log and "cloud re-check dropped" not in log
    dates = read_csv(wd / OUT / "s2/dates.csv")
    assert [r["date"] for r in dates] == ["2021-07-20", "2024-04-18", "2024-05-23", "2024-06-15", "2024-08-04"]
    two = dates[3]
    assert two["item_ids"] == f"{SITE_ZONE_ITEM};{OTHER_ZONE_ITEM}" and two["epsgs"] == "32611;32610"
    assert dates[0]["processing_baselines"] < "04.00" and dates[0]["scale_offset"] == "red:0.0001/0;nir:0.0001/0"
    assert dates[1]["scale_offset"] == "red:0.0001/-0.1;nir:0.0001/-0.1"
    summary = read_csv(wd / OUT / "s2/date_summary.csv")
    assert [r["date"] for r in summary] == [r["date"] for r in dates]
    assert all(0 <= float(r["valid_fraction"]) <= 1 for r in summary)


def _read(path):
    with rasterio.open(path) as src:
        return src.read(), src.descriptions, src


def test_per_date_products_equal_truth(stac_run, s2_demo):
    wd, _, _, _ = stac_run
    for r in read_csv(wd / OUT / "s2/date_summary.csv"):
        d = r["date"]
        refl, desc, src = _read(wd / OUT / f"s2/dates/{d}/reflectance.tif")
        assert desc == ("red", "nir") and src.dtypes == ("float32", "float32") and src.res == (10.0, 10.0)
        assert tuple(src.bounds) == (500000.0, 4100000.0, 503000.0, 4102000.0)
        truth = load_truth(s2_demo.dir, d, MASK, 10)
        tr = truth["reflectance"][[BAND_KEYS.index(b) for b in desc]].astype(np.float32)
        nd, _, _ = _read(wd / OUT / f"s2/dates/{d}/ndvi.tif")
        if d != "2024-06-15":
            # One scene on the site grid: identical values and mask.
            np.testing.assert_array_equal(refl, tr)
            np.testing.assert_allclose(nd[0], truth["ndvi"], atol=1e-6, equal_nan=True)
        frac = float(r["valid_fraction"])
        # Valid: cloud-free reflectance; its NDVI is no data only where red or NIR is negative.
        assert frac == pytest.approx(np.isfinite(refl).all(axis=0).mean(), abs=1e-6)
        assert np.isfinite(nd[0]).mean() <= frac + 1e-6 and r["scaling_flag"] == "false"  # frac: 6 decimals


def test_ndvi_right_before_and_after_baseline_0400(stac_run, s2_demo):
    """An offset applied twice or not at all moves NDVI by > 0.05 on this landscape."""
    wd, _, _, _ = stac_run
    for d in ("2021-07-20", "2024-08-04"):
        nd, _, _ = _read(wd / OUT / f"s2/dates/{d}/ndvi.tif")
        truth = load_truth(s2_demo.dir, d, MASK, 10)["ndvi"]
        ok = np.isfinite(truth)
        assert ok.mean() > 0.5
        assert np.nanmax(np.abs(nd[0][ok] - truth[ok])) < 1e-5


def _independent(s2_demo, item_id: str, bounds, mask=MASK) -> dict[str, np.ndarray]:
    """DN x scale + offset from the item's own COGs and raster:bands, SCL mask (20 m -> 10 m)."""
    item = next(it for it in s2_demo.items if it["id"] == item_id)
    out = {}
    with rasterio.open(item["assets"]["scl"]["href"]) as s:
        scl = s.read(1, window=from_bounds(*bounds, s.transform))
    scl10 = np.repeat(np.repeat(scl, 2, 0), 2, 1)
    dns = {}
    for b in ("red", "nir"):
        rb = item["assets"][b]["raster:bands"][0]
        with rasterio.open(item["assets"][b]["href"]) as s:
            dns[b] = s.read(1, window=from_bounds(*bounds, s.transform))
        out[b] = np.float32(dns[b].astype(np.float64) * rb["scale"] + rb["offset"])
    bad = np.isin(scl10, mask) | (dns["red"] == 0) | (dns["nir"] == 0)
    for b in out:
        out[b][bad] = np.nan
    return out


def test_two_zones_one_date_exact_on_grid_and_close_after_reprojection(stac_run, s2_demo):
    wd, _, _, _ = stac_run
    d = "2024-06-15"
    refl, _, src = _read(wd / OUT / f"s2/dates/{d}/reflectance.tif")
    bounds = tuple(src.bounds)
    ind = _independent(s2_demo, SITE_ZONE_ITEM, bounds)
    on_grid = np.isfinite(ind["red"])
    assert 0.3 < on_grid.mean() < 0.9  # the site-zone scene's swath edge crosses the site
    np.testing.assert_array_equal(refl[0][on_grid], ind["red"][on_grid])
    np.testing.assert_array_equal(refl[1][on_grid], ind["nir"][on_grid])
    # Where only the other zone's scene has data: reprojected (nearest) onto the grid. Tolerance:
    # 95 % of pixels identical to the truth (the other scene's pixel containing the site pixel's
    # centre) and all within 0.03 reflectance (a neighbouring pixel picked where GDAL's
    # approximate transform puts the centre next to a pixel edge; neighbours differ by noise).
    truth = load_truth(s2_demo.dir, d, MASK, 10)["reflectance"][[2, 3]].astype(np.float32)
    other = ~on_grid & np.isfinite(truth[0])
    assert other.mean() > 0.1 and np.isfinite(refl[0][other]).all()
    diff = np.abs(refl[:, other] - truth[:, other])
    assert np.mean(diff == 0) > 0.95 and diff.max() < 0.03, (np.mean(diff == 0), diff.max())


def test_only_site_windows_are_read(stac_run, s2_demo):
    wd, _, _, log = stac_run
    served: dict[str, int] = {}
    for e in log:
        if e["path"].lstrip("/").startswith("scenes/"):
            served[e["path"].lstrip("/")] = served.get(e["path"].lstrip("/"), 0) + e["bytes"]
    assert served, "no COG was read over HTTP"
    sizes = {p: (s2_demo.dir / p).stat().st_size for p in served}
    assert all(e.get("range") for e in log if e["method"] == "GET" and e["path"].lstrip("/").startswith("scenes/"))
    total, full = sum(served.values()), sum(sizes.values())
    # The site is ~6 % of a scene's area: whole files would be 100 %.
    assert total < 0.35 * full, (total, full)


def test_second_run_fetches_nothing_and_runs_nothing(stac_run, cog_server, tmp_path):
    wd, cfg, _, _ = stac_run
    wd2 = copy_run(wd, tmp_path / "again")
    cog_server.reset_log()
    proc = snakemake(wd2, *TARGETS, "--configfile", str(wd2 / cfg.name))
    assert "Nothing to be done" in proc.stdout + proc.stderr
    assert cog_server.log() == []


def test_wider_datetime_runs_only_new_dates(stac_run, cog_server, tmp_path):
    wd, cfg, _, _ = stac_run
    wd2 = copy_run(wd, tmp_path / "wider")
    cfg2 = update_config(wd2 / cfg.name, sentinel2={**_s2(wd2 / cfg.name), "datetime": WIDER})
    before = {p: p.stat().st_mtime_ns for p in (wd2 / OUT / "s2/dates").rglob("*.tif")}
    proc = snakemake(wd2, *TARGETS, "--configfile", str(cfg2))
    ran = s2_jobs(proc)
    assert re.search(r"^\s*(local)?checkpoint s2_search:", proc.stdout + proc.stderr, re.M)
    assert ran == {("s2_date", "date=2024-09-13"), ("s2_date", "date=2024-10-18"),
                   ("s2_summary", ""), ("s2_figure_ndvi", ""), ("s2_figure_valid", "")}, ran
    assert all(p.stat().st_mtime_ns == t for p, t in before.items())
    dates = [r["date"] for r in read_csv(wd2 / OUT / "s2/date_summary.csv")]
    assert dates[-2:] == ["2024-09-13", "2024-10-18"]
    used = {r["date"]: r["used"] for r in read_csv(wd2 / OUT / "s2/date_summary.csv")}
    assert used["2024-09-13"] == "false"  # clouds over the site: listed, not used


def _s2(cfg_path) -> dict:
    import yaml

    return yaml.safe_load(Path(cfg_path).read_text())["sentinel2"]


def test_mask_classes_edit_reruns_only_per_date_jobs(stac_run, tmp_path):
    wd, cfg, _, _ = stac_run
    wd2 = copy_run(wd, tmp_path / "mask")
    cfg2 = update_config(wd2 / cfg.name, sentinel2={**_s2(wd2 / cfg.name), "mask_classes": [*MASK, 2]})
    proc = snakemake(wd2, "-n", *TARGETS, "--configfile", str(cfg2))
    planned = s2_jobs(proc)
    dates = [r["date"] for r in read_csv(wd / OUT / "s2/dates.csv")]
    assert planned == {("s2_date", f"date={d}") for d in dates} | {
        ("s2_summary", ""), ("s2_figure_ndvi", ""), ("s2_figure_valid", "")}, planned
    assert "Params have changed" in proc.stdout + proc.stderr


# ---- faults ------------------------------------------------------------------------------------

def _one_date_run(stac_run, tmp_path, name, date="2024-08-04"):
    """A copy of the main run with one date's outputs removed (so only that job runs)."""
    wd, cfg, _, _ = stac_run
    wd2 = copy_run(wd, tmp_path / name)
    shutil.rmtree(wd2 / OUT / f"s2/dates/{date}")
    return wd2, wd2 / cfg.name, [str(OUT / f"s2/dates/{date}/{f}") for f in ("reflectance.tif", "ndvi.tif")]


def test_cog_connection_dropped_mid_read_recovers(stac_run, cog_server, tmp_path):
    wd2, cfg, targets = _one_date_run(stac_run, tmp_path, "drop")
    item = "S2B_11SMB_20240804_0_L2A"
    cog_server.reset_log()
    cog_server.add_fault("drop", f"scenes/{item}/nir.tif", times=1, after_bytes=2048)
    try:
        proc = snakemake(wd2, *targets, "--configfile", str(cfg))
    finally:
        cog_server.clear_faults()
    assert s2_jobs(proc) == {("s2_date", "date=2024-08-04")}
    hits = [e for e in cog_server.log() if e["path"].lstrip("/") == f"scenes/{item}/nir.tif"]
    assert len(hits) >= 2  # the dropped request and its retry
    a, _, _ = _read(wd2 / OUT / "s2/dates/2024-08-04/reflectance.tif")
    b, _, _ = _read(stac_run[0] / OUT / "s2/dates/2024-08-04/reflectance.tif")
    np.testing.assert_array_equal(a, b)


def test_asset_404_is_a_clear_error(stac_run, cog_server, tmp_path):
    wd2, cfg, targets = _one_date_run(stac_run, tmp_path, "404")
    item = "S2B_11SMB_20240804_0_L2A"
    cog_server.add_fault("404", f"scenes/{item}/nir.tif", times=None)
    try:
        proc = snakemake(wd2, *targets, "--configfile", str(cfg), check=False)
    finally:
        cog_server.clear_faults()
    assert proc.returncode != 0
    assert f"item {item}, asset 'nir'" in proc.stderr and "cannot be read" in proc.stderr
    d = wd2 / OUT / "s2/dates/2024-08-04"
    assert not (d / "reflectance.tif").exists() and not (d / "ndvi.tif").exists()
    assert not list((wd2 / OUT / "s2").rglob(".*part*"))


def _search_again(stac_run, tmp_path, name, **s2):
    """A copy of the main run with sentinel2 keys changed (the search reruns: its params)."""
    wd, cfg, _, _ = stac_run
    wd2 = copy_run(wd, tmp_path / name)
    cfg2 = update_config(wd2 / cfg.name, sentinel2={**_s2(wd2 / cfg.name), **s2})
    return wd2, cfg2


def test_api_503_twice_then_ok(stac_run, stac_api, tmp_path):
    wd, cfg = _search_again(stac_run, tmp_path, "flaky", api_url=stac_api.flaky_url)
    stac_api.set_flaky(2)
    try:
        proc = snakemake(wd, str(OUT / "s2/dates.csv"), "--configfile", str(cfg))
        faults = stac_api.faults()
    finally:
        stac_api.set_flaky(0)
    assert re.search(r"^\s*(local)?checkpoint s2_search:", proc.stdout + proc.stderr, re.M)
    assert faults["flaky_served"] >= 2 and faults["flaky_remaining"] == 0
    assert (wd / OUT / "s2/dates.csv").read_text() == (stac_run[0] / OUT / "s2/dates.csv").read_text()


def test_client_recheck_drops_cloudy_item_when_server_ignores_query(stac_run, stac_api, tmp_path):
    before = stac_api.faults()["query_stripped"]
    wd, cfg = _search_again(stac_run, tmp_path, "noquery", api_url=stac_api.noquery_url)
    snakemake(wd, str(OUT / "s2/dates.csv"), "--configfile", str(cfg))
    assert stac_api.faults()["query_stripped"] > before
    log = (wd / OUT / "logs/s2_search.log").read_text()
    assert f"dropped by the cloud re-check: eo:cloud_cover 62" in log and CLOUDY_ITEM in log
    items = json.loads((wd / OUT / "s2/items.json").read_text())["features"]
    assert CLOUDY_ITEM not in {i["id"] for i in items}
    assert (wd / OUT / "s2/dates.csv").read_text() == (stac_run[0] / OUT / "s2/dates.csv").read_text()


def test_paging_and_no_items_message(stac_api):
    from aopflow.sentinel2.grid import SiteGrid

    bbox = SiteGrid.from_bounds(32611, (500000, 4100000, 503000, 4102000), 10).bounds_4326()
    paged = search_api(stac_api.url, "sentinel-2-l2a", bbox=bbox, datetime=FIRST, max_cloud_cover=30,
                       max_items=50, page_size=2)
    assert len(paged) == 6 and len({i["id"] for i in paged}) == 6
    with pytest.raises(ConfigError, match="in 2024-07-01/2024-07-31 with eo:cloud_cover <= 30; without the cloud "
                                          "filter 1 item"):
        search_api(stac_api.url, "sentinel-2-l2a", bbox=bbox, datetime="2024-07-01/2024-07-31",
                   max_cloud_cover=30, max_items=50)


def test_api_errors_name_the_key(stac_api):
    bbox = (-117.0, 37.04, -116.97, 37.06)
    with pytest.raises(ConfigError, match=r"sentinel2.collection: 'sentinel-2-nope' is not a collection .*"
                                          r"'sentinel-2-l2a'"):
        search_api(stac_api.url, "sentinel-2-nope", bbox=bbox, datetime=FIRST, max_cloud_cover=30, max_items=50)
    with pytest.raises(ConfigError, match="sentinel2.max_items: 6 items match"):
        search_api(stac_api.url, "sentinel-2-l2a", bbox=bbox, datetime=FIRST, max_cloud_cover=30, max_items=3)
    with pytest.raises(ConfigError, match="sentinel2.area: the area .* lies outside every item"):
        search_api(stac_api.url, "sentinel-2-l2a", bbox=(10.0, 50.0, 10.1, 50.1), datetime=FIRST,
                   max_cloud_cover=30, max_items=50)


def test_item_without_raster_bands_uses_baseline(stac_run, stac_api, s2_demo, cog_server, tmp_path):
    item = next(it for it in s2_demo.items if it["id"] == "S2B_11SMB_20240804_0_L2A")
    item = json.loads(json.dumps(item))
    for a in item["assets"].values():
        a.pop("raster:bands", None)
    stac_api.load(rewrite_hrefs([item], s2_demo.dir, cog_server.url), "s2-norb")
    wd, cfg = _search_again(stac_run, tmp_path, "norb", collection="s2-norb")
    proc = snakemake(wd, str(OUT / "s2/date_summary.csv"), "--configfile", str(cfg))
    # The item changed (no raster:bands), so its date is loaded again.
    assert s2_jobs(proc) == {("s2_date", "date=2024-08-04"), ("s2_summary", "")}
    dates = read_csv(wd / OUT / "s2/dates.csv")
    assert [r["date"] for r in dates] == ["2024-08-04"]
    assert dates[0]["scale_offset"] == "red:0.0001/-0.1;nir:0.0001/-0.1"
    assert "from baseline 05.11" in (wd / OUT / "logs/s2_date/2024-08-04.log").read_text()
    a, _, _ = _read(wd / OUT / "s2/dates/2024-08-04/reflectance.tif")
    b, _, _ = _read(stac_run[0] / OUT / "s2/dates/2024-08-04/reflectance.tif")
    np.testing.assert_array_equal(a, b)
