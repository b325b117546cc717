"""The workflow end to end on a tiny generated site, lint/format, and bad input."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio

from aopflow.generator import generate_site

from conftest import ROOT, tiny_spec
from smk import new_workflow, snakemake, tiny_demo

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("demo")
    wd, cfg = new_workflow(tmp, **tiny_demo())
    proc = snakemake(wd, "--configfile", str(cfg))
    return wd, cfg, proc


def test_demo_run_outputs(demo_run):
    wd, _, _ = demo_run
    out = wd / "results" / "DEMO" / "2024"
    for rel in ["tiles.csv", "mosaic/wqi.tif", "mosaic/rgb.tif", "figures/wqi.png", "figures/rgb.png"]:
        assert (out / rel).stat().st_size > 0, rel
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


def test_local_source_and_bad_tile(tmp_path):
    spec = tiny_spec(site="LOCL", shape=(2, 1), pixels=20, pixel_size=25.0, bands=80)
    h5_dir = tmp_path / "h5"
    paths = generate_site(spec, h5_dir)
    wd, cfg = new_workflow(tmp_path, site="LOCL", source="local", local={"h5_dir": str(h5_dir)})
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


def test_local_tile_outside_its_named_cell(tmp_path):
    spec = tiny_spec(site="LOCL", shape=(1, 1), pixels=20, pixel_size=25.0, bands=80)
    h5_dir = tmp_path / "h5"
    (path,) = generate_site(spec, h5_dir)
    path.rename(h5_dir / path.name.replace("500000_4100000", "507000_4100000"))
    wd, cfg = new_workflow(tmp_path, site="LOCL", source="local", local={"h5_dir": str(h5_dir)})
    proc = snakemake(wd, "--configfile", str(cfg), check=False)
    assert proc.returncode != 0
    assert "outside the 1000 m grid cell 507000_4100000" in proc.stderr
