"""Shared fixtures: the real NEON fixture file and small generated NEON-format sites."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio

from aopflow.demo.aop import SiteSpec, generate_site

#: The NEON Data API fixtures (loopback server, client, recorded sleeps) for every test module.
pytest_plugins = ["neon_fixtures"]

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
#: The real NEON subset kept in the repository (provenance: tests/data/README.md).
REAL_FIXTURE = DATA / "neonhs_ex.h5"
WORKFLOW_FILES = ["Snakefile", "rules", "scripts", "config", "envs", "profiles", "report"]


@pytest.fixture(scope="session")
def real_fixture() -> Path:
    if not REAL_FIXTURE.exists():
        pytest.fail(f"the real NEON fixture is missing: {REAL_FIXTURE} (it is part of the repository)")
    return REAL_FIXTURE


def tiny_spec(**kw) -> SiteSpec:
    """A small site: 2 x 2 tiles of 40 x 40 pixels at 25 m, 120 bands."""
    base = dict(site="TEST", shape=(2, 2), pixels=40, pixel_size=25.0, bands=120, seed=3)
    base.update(kw)
    return SiteSpec(**base)


@pytest.fixture(scope="session")
def site_002(tmp_path_factory) -> tuple[SiteSpec, list[Path]]:
    spec = tiny_spec(revision="002")
    out = tmp_path_factory.mktemp("site002")
    return spec, generate_site(spec, out)


@pytest.fixture(scope="session")
def site_001(tmp_path_factory) -> tuple[SiteSpec, list[Path]]:
    spec = tiny_spec(revision="001", chunks="legacy")
    out = tmp_path_factory.mktemp("site001")
    return spec, generate_site(spec, out)


def copy_workflow(dest: Path) -> Path:
    """Copy the workflow (not results or .snakemake) into ``dest`` for an isolated run."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    return dest


def write_geotiff(path: Path, arr: np.ndarray, *, transform, nodata, crs="EPSG:32611") -> Path:
    """Write a ``(rows, cols)`` or ``(bands, rows, cols)`` array as a GeoTIFF; return ``path``."""
    arr3 = arr if arr.ndim == 3 else arr[None]
    with rasterio.open(path, "w", driver="GTiff", width=arr3.shape[2], height=arr3.shape[1],
                       count=arr3.shape[0], dtype=arr3.dtype.name, crs=crs,
                       transform=transform, nodata=nodata) as dst:
        dst.write(arr3)
    return path


@pytest.fixture
def write_tif():
    """:func:`write_geotiff`: a small hand-made raster for a test."""
    return write_geotiff
