"""`source: neon` end to end against a real HTTP server on 127.0.0.1 serving generated tiles."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import rasterio

from aopflow.demo.aop import generate_site

from conftest import tiny_spec
from smk import new_workflow, snakemake

pytestmark = pytest.mark.workflow
SERVER = Path(__file__).with_name("neon_server.py")


@pytest.fixture
def neon_server(tmp_path):
    spec = tiny_spec(site="SRVR", shape=(2, 1), pixels=24, pixel_size=25.0, bands=90)
    src = tmp_path / "served"
    paths = generate_site(spec, src)
    cmd = [sys.executable, str(SERVER), "--dir", str(src), "--site", "SRVR", "--product", "DP3.30006.002",
           "--month", "2024-06", "--pattern", "*.h5", "--port", "0"]
    # The context manager closes the pipes (an unclosed one is a ResourceWarning, an error here).
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            url = proc.stdout.readline().strip()
            assert url.startswith("http://127.0.0.1:"), proc.stderr.read()
            yield url, spec, paths
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def test_neon_source_end_to_end_and_no_second_download(neon_server, tmp_path):
    url, spec, paths = neon_server
    wd, cfg = new_workflow(
        tmp_path, site="SRVR", year=2024, source="neon", zonal={"plots": None},
        neon={"api_url": url, "max_download_gb": 1}, endmembers={"n": 3, "sample_size": 300},
    )
    env = {k: v for k, v in os.environ.items() if k != "NEON_API_TOKEN"}
    proc = snakemake(wd, "--configfile", str(cfg), env=env)
    out = wd / "results" / "SRVR" / "2024"
    listing = (out / "tiles.csv").read_text().splitlines()
    assert listing[0].startswith("tile,name,size") and len(listing) == 3
    for p in paths:
        got = out / "h5" / p.name
        assert got.read_bytes() == p.read_bytes()
    assert not list((out / "h5").glob("*.part"))
    with rasterio.open(out / "mosaic" / "rgb.tif") as m:
        assert tuple(m.bounds) == (500000.0, 4100000.0, 501600.0, 4100600.0)
    assert (out / "mosaic" / "sam.tif").exists()
    assert "download_tile" in proc.stdout + proc.stderr
    mtimes = {p.name: (out / "h5" / p.name).stat().st_mtime for p in paths}
    # A second run downloads nothing (and runs nothing).
    time.sleep(1)
    second = snakemake(wd, "--configfile", str(cfg), env=env)
    text = second.stdout + second.stderr
    assert "Nothing to be done" in text and "download_tile" not in text
    assert mtimes == {p.name: (out / "h5" / p.name).stat().st_mtime for p in paths}


def test_size_guard_stops_before_downloading(neon_server, tmp_path):
    url, spec, paths = neon_server
    wd, cfg = new_workflow(tmp_path, site="SRVR", year=2024, source="neon", zonal={"plots": None},
                           neon={"api_url": url, "max_download_gb": 0.00001})
    proc = snakemake(wd, "--configfile", str(cfg), check=False)
    assert proc.returncode != 0
    assert "neon.max_download_gb" in proc.stderr
    assert not (wd / "results" / "SRVR" / "2024" / "h5").exists()


def test_unknown_site_is_a_clear_error(neon_server, tmp_path):
    url, spec, paths = neon_server
    wd, cfg = new_workflow(tmp_path, site="ABCD", year=2024, source="neon", zonal={"plots": None},
                           neon={"api_url": url})
    proc = snakemake(wd, "--configfile", str(cfg), check=False)
    assert proc.returncode != 0
    assert "Site 'ABCD' (config key site)" in proc.stderr and "SRVR" in proc.stderr


def test_empty_token_is_an_error_before_any_download(neon_server, tmp_path):
    url, spec, paths = neon_server
    wd, cfg = new_workflow(tmp_path, site="SRVR", year=2024, source="neon", zonal={"plots": None},
                           neon={"api_url": url})
    proc = snakemake(wd, "--configfile", str(cfg), check=False, env={"NEON_API_TOKEN": " "})
    assert proc.returncode != 0 and "NEON_API_TOKEN" in proc.stderr
    assert not (wd / "results" / "SRVR" / "2024" / "h5").exists()
