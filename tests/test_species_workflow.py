"""The species stage in the workflow: a tiny demo site run end to end, then the exact reruns
planned after a stem-filter edit and after a classifier edit (``snakemake -n``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import rasterio

from smk import copy_run, job_reasons, new_workflow, snakemake, update_config

pytestmark = pytest.mark.workflow

OUT = Path("results/DEMO/2024")
TILES = ["500000_4100000", "501000_4100000", "500000_4101000", "501000_4101000"]
#: Crowns several pixels wide need 1 m pixels; 150 px tiles hold about 15 plots in the 2 x 2 site.
CONFIG = dict(
    demo={"shape": [2, 2], "pixels": 150, "pixel_size": 1.0, "bands": 60, "seed": 5},
    species={"source": "demo", "cv": {"folds": 4, "seed": 0}},
    # The species map by name: class fractions at the demo plots, block majority downscaling.
    zonal={"plots": "demo", "rasters": ["species"]},
    downscale={"resolutions": [10], "products": ["species"]},
)
SPECIES_PER_TILE = {"species_training", "species_predict"}


@pytest.fixture(scope="module")
def species_run(tmp_path_factory):
    wd, cfg = new_workflow(tmp_path_factory.mktemp("species"), **CONFIG)
    snakemake(wd, "--configfile", str(cfg), timeout=1200)
    return wd, cfg


def test_species_outputs(species_run):
    wd, _ = species_run
    out = wd / OUT
    stems = pd.read_csv(out / "species/stems.csv")
    assert stems["used"].sum() > 100 and {"outside the tiles", "not live (Standing dead)"} <= set(stems["reason"])
    metrics = pd.read_csv(out / "species/cv_metrics.csv")
    assert set(metrics["split"]) == {"plot", "random"} and set(metrics["level"]) == {"pixel", "crown"}
    classes = pd.read_csv(out / "species/classes.csv")
    assert list(classes["code"]) == list(range(1, len(classes) + 1)) and "OTHER" in set(classes["taxonID"])
    with rasterio.open(out / "mosaic/species.tif") as src:
        assert src.dtypes[0] == "uint8" and src.nodata == 255
        assert set(range(1, len(classes) + 1)) <= set(pd.unique(src.read(1).ravel()))
    zonal = pd.read_csv(out / "zonal/species.csv")
    assert any(c.startswith("frac_") or "fraction" in c for c in zonal.columns), zonal.columns
    for fig in ("species", "species_confusion", "species_f1"):
        assert (out / f"figures/{fig}.png").stat().st_size > 5000
    assert (out / "downscale/species_10m.tif").exists()


def _planned(wd: Path, cfg: Path) -> set[str]:
    return {rule for rule, _ in job_reasons(snakemake(wd, "--configfile", str(cfg), "-n").stdout)}


def test_min_height_edit_reruns_stems_training_model_prediction(species_run, tmp_path):
    wd, cfg = species_run
    wd = copy_run(wd, tmp_path / "wf")
    cfg = update_config(wd / cfg.name, species={**CONFIG["species"], "min_height_m": 8})
    jobs = job_reasons(snakemake(wd, "--configfile", str(cfg), "-n").stdout)
    rules = {r for r, _ in jobs}
    assert {"species_stems", "species_training", "species_model", "species_predict"} <= rules
    assert sum(r == "species_training" for r, _ in jobs) == len(TILES)
    assert not rules & {"demo_tile", "sample_tile", "site_endmembers", "spectral_tile", "classify_tile",
                        "ndvi_tile", "h5_to_rgb", "species_demo"}, rules
    assert rules <= {"species_stems", "species_training", "species_model", "species_predict", "mosaic",
                     "figure_species_map", "figure_species_confusion", "figure_species_f1", "zonal",
                     "downscale", "all"}, rules


def test_classifier_edit_reruns_model_and_prediction_only(species_run, tmp_path):
    wd, cfg = species_run
    wd = copy_run(wd, tmp_path / "wf")
    cfg = update_config(wd / cfg.name, species={**CONFIG["species"], "classifier": "lda"})
    rules = _planned(wd, cfg)
    assert {"species_model", "species_predict"} <= rules
    assert not rules & {"species_stems", "species_training", "species_demo", "demo_tile", "spectral_tile"}, rules
    assert rules <= {"species_model", "species_predict", "mosaic", "figure_species_map",
                     "figure_species_confusion", "figure_species_f1", "zonal", "downscale", "all"}, rules


def test_source_files_takes_globs_and_lists_and_names_a_missing_key(species_run, tmp_path):
    wd, _ = species_run
    vst = wd / OUT / "h5/vst"
    files = {"mapping": str(vst / "vst_mapping*.csv"), "individual": [str(vst / "vst_apparentindividual.csv")],
             "points": str(vst / "All_NEON_TOS_Plot_Points.csv")}
    wf, cfg = new_workflow(tmp_path, **{**CONFIG, "species": {"source": "files", "files": files}})
    plan = snakemake(wf, "--configfile", str(cfg), "-n").stdout
    assert "rule species_stems:" in plan and "species_demo" not in plan
    cfg = update_config(cfg, species={"source": "files", "files": {**files, "points": None}})
    proc = snakemake(wf, "--configfile", str(cfg), "-n", check=False)
    assert proc.returncode != 0
    assert "species.files.points is not set" in proc.stdout + proc.stderr
