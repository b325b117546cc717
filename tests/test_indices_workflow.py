"""Spectral indices in the workflow (demo AOP site and demo Sentinel-2 scenes, offline): outputs,
zonal statistics and downscaling by name, AOP vs Sentinel-2 per band and index (srf | nearest),
and incremental reruns: adding an index or editing its constants runs only that index's jobs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio

from smk import assert_block_mean, copy_run, job_reasons, new_workflow, snakemake, update_config

pytestmark = pytest.mark.workflow

OUT = Path("results/DEMO/2024")
TILES = ["500000_4100000", "500000_4101000", "501000_4100000", "501000_4101000"]
INDICES = ["NDVI", "EVI", "NDWI", "PRI", "NDII"]
S2_BANDS = ["blue", "green", "red", "nir"]
S2_INDICES = ["NDVI", "EVI", "NDWI"]  # PRI: no MSI band; NDII: swir16 not read
DATE = "2024-06-15"


def config() -> dict:
    return {
        "demo": {"shape": [2, 2], "pixels": 50, "pixel_size": 10.0, "bands": 120, "seed": 5},
        "indices": INDICES,
        "index_constants": {},
        "zonal": {"plots": "demo", "rasters": ["index_NDVI"]},
        "downscale": {"resolutions": [50], "products": ["index_EVI", "s2_index_NDVI_median"]},
        "sentinel2": {"source": "demo", "datetime": "2024-06-01/2024-06-30", "bands": S2_BANDS,
                      "composite": {"period": "month"}},
    }


def targets(indices=INDICES, s2_indices=S2_INDICES) -> list[str]:
    t = [f"{OUT}/mosaic/index_{n}.tif" for n in indices]
    t += [f"{OUT}/s2/composite/index_{n}_median.tif" for n in s2_indices]
    t += [f"{OUT}/s2/composite/2024-06/index_{n}_median.tif" for n in s2_indices]
    t += [f"{OUT}/tables/aop_vs_s2_bands.csv", f"{OUT}/zonal/index_NDVI.csv",
          f"{OUT}/downscale/index_EVI_50m.tif", f"{OUT}/downscale/s2_index_NDVI_median_50m.tif"]
    return t


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("idx")
    wd, cfg = new_workflow(tmp, **config())
    proc = snakemake(wd, *targets(), "--configfile", str(cfg), timeout=1800)
    return wd, cfg, proc


def test_outputs_and_use_by_name(base_run):
    wd, _, proc = base_run
    out = wd / OUT
    valid = {}
    for n in INDICES:
        with rasterio.open(out / f"mosaic/index_{n}.tif") as src:
            valid[n] = int(np.isfinite(src.read(1)).sum())
            assert src.descriptions == (n,)
    # Four 50 x 50 tiles (the demo has a few no-data pixels); every index valid where NDVI is
    # but for a handful of pixels (the no-data rule: a negative band).
    assert valid["NDVI"] > 0.9 * 4 * 2500
    assert all(v > 0.98 * valid["NDVI"] for v in valid.values()), valid
    with rasterio.open(out / "mosaic/index_NDVI.tif") as src:
        v = src.read(1)
    assert np.nanmin(v) >= -1 and np.nanmax(v) <= 1
    for n in S2_INDICES:
        with rasterio.open(out / f"s2/composite/index_{n}_median.tif") as src, \
                rasterio.open(out / f"s2/dates/{DATE}/index_{n}.tif") as day, \
                rasterio.open(out / f"s2/composite/2024-06/index_{n}_median.tif") as month:
            assert src.res == (10.0, 10.0) and src.tags()["dates"] == DATE == month.tags()["dates"]
            # one date: the median is that date's index
            np.testing.assert_array_equal(src.read(1), day.read(1))
            np.testing.assert_array_equal(month.read(1), day.read(1))
    assert not list(out.glob("s2/dates/*/index_PRI.tif"))
    # The stage says which Sentinel-2 indices it cannot compute, and why.
    assert "Sentinel-2 index PRI not computed: band(s) R531, R570 have no Sentinel-2 MSI band" in proc.stderr
    assert "Sentinel-2 index NDII not computed: needs asset(s) swir16" in proc.stderr
    zonal = pd.read_csv(out / "zonal/index_NDVI.csv")
    covered = zonal[zonal["count"] > 0]  # plots in the gaps between the tiny tiles have none
    assert len(covered) >= 6 and covered["mean"].between(-1, 1).all()
    with rasterio.open(out / "downscale/index_EVI_50m.tif") as src:
        assert src.res == (50.0, 50.0)
    assert_block_mean(out / "downscale/s2_index_NDVI_median_50m.tif", out / "s2/composite/index_NDVI_median.tif")


def test_srf_agrees_better_than_nearest_on_the_demo(base_run):
    """The demo's Sentinel-2 scenes are the same materials through Gaussian band responses
    (aopflow.demo.sentinel2.bands); AOP through the ESA SRFs is still closer to them than the
    single nearest AOP band, for every band and every index of the table."""
    wd, _, _ = base_run
    t = pd.read_csv(wd / OUT / "tables/aop_vs_s2_bands.csv")
    assert set(t["name"][t["quantity"] == "band"]) == set(S2_BANDS)
    assert set(t["name"][t["quantity"] == "index"]) == set(S2_INDICES)
    assert (t["s2_date"] == DATE).all()
    assert set(t["srf_of"].dropna()) == {"S2B"}  # the demo's 2024-06-15 scenes are S2B
    wide = t.pivot(index=["quantity", "name"], columns="aop_bands", values="r2")
    assert (wide["srf"] > wide["nearest"]).all(), wide
    assert (wide["srf"] > 0.95).all(), wide
    rmse = t.pivot(index=["quantity", "name"], columns="aop_bands", values="rmse")
    assert (rmse.loc["band", "srf"] < rmse.loc["band", "nearest"]).all(), rmse


def plan(wd: Path, cfg: Path, tg) -> dict:
    return job_reasons(snakemake(wd, *tg, "--configfile", str(cfg), "-n").stdout)


def savi_jobs() -> set:
    return ({("index_tile", f"tile={t}, index=SAVI") for t in TILES}
            | {("mosaic", "product=index_SAVI"), ("s2_index_date", f"date={DATE}, index=SAVI"),
               ("s2_index_composite", "index=SAVI"), ("s2_compare_bands", ""),
               ("s2_index_composite_period", "s2period=2024-06, index=SAVI")})


def test_adding_an_index_runs_only_its_jobs(base_run, tmp_path):
    wd, cfg, _ = base_run
    wd2 = copy_run(wd, tmp_path / "wf")
    cfg2 = update_config(wd2 / cfg.name, indices=[*INDICES, "SAVI"])
    tg = targets([*INDICES, "SAVI"], [*S2_INDICES, "SAVI"])
    jobs = plan(wd2, cfg2, tg)
    # No ndvi_tile (the band extract does not depend on the list), no other index's job; the
    # band/index comparison (one job) gains the SAVI rows.
    assert set(jobs) == savi_jobs(), jobs
    before = {p: p.stat().st_mtime_ns for p in (wd2 / OUT).glob("tiles/*/index_NDVI.tif")}
    snakemake(wd2, *tg, "--configfile", str(cfg2))
    assert before == {p: p.stat().st_mtime_ns for p in (wd2 / OUT).glob("tiles/*/index_NDVI.tif")}
    assert "Nothing to be done" in snakemake(wd2, *tg, "--configfile", str(cfg2), "-n").stdout
    t = pd.read_csv(wd2 / OUT / "tables/aop_vs_s2_bands.csv")
    assert "SAVI" in set(t["name"])
    # Then a constant of SAVI only (the shipped config's L is 0.5): its jobs again (params
    # changed), nothing else.
    cfg3 = update_config(cfg2, index_constants={"SAVI": {"L": 0.75}})
    jobs = plan(wd2, cfg3, tg)
    assert set(jobs) == savi_jobs(), jobs
    assert "Params have changed" in jobs[("index_tile", f"tile={TILES[0]}, index=SAVI")]
