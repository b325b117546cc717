"""Run snakemake as a user would (a subprocess in a copy of the workflow)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from conftest import copy_workflow


def write_config(workdir: Path, **overrides) -> Path:
    """Write ``workdir/test_config.yaml``: the shipped config with ``overrides`` merged in."""
    cfg = yaml.safe_load((workdir / "config" / "config.yaml").read_text())
    # The Sentinel-2 stage only where a test asks for it (its demo needs whole-block pixels).
    cfg["sentinel2"]["source"] = None
    # The species stage too (its demo needs plots of crowns several pixels wide: tests/test_species*.py).
    cfg["species"]["source"] = None
    # The spectral indices too (tests/test_indices_workflow.py), which add jobs to every tile.
    cfg["indices"] = []
    cfg["index_constants"] = {}
    # Publishing (catalog and map, which follow every product) only where a test asks for it,
    # so that the exact rerun sets of the other workflow tests stay those of their stages.
    cfg["publish"] = {**cfg.get("publish", {}), "stac": False, "map": False}
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key] = {**cfg[key], **value}
        else:
            cfg[key] = value
    path = workdir / "test_config.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def tiny_demo(**extra) -> dict:
    """Config overrides for a tiny, fast demo site (2 x 2 tiles, 30 px at 20 m, 100 bands)."""
    cfg = {"demo": {"shape": [2, 2], "pixels": 30, "pixel_size": 20.0, "bands": 100, "seed": 5},
           "downscale": {"resolutions": [40, 100], "products": ["ndvi", "sam"]}}
    cfg.update(extra)
    return cfg


def snakemake(workdir: Path, *args: str, check: bool = True, timeout: float = 600,
              env: dict | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", *args]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
        )
    return proc


def new_workflow(tmp_path: Path, **config) -> tuple[Path, Path]:
    wd = copy_workflow(tmp_path / "wf")
    return wd, write_config(wd, **config)


# ---- Which jobs snakemake plans or runs, parsed from its output (dry run, run log, SLURM log) ----

# A job block: "rule NAME:" ("localrule NAME:" when run locally; indented inside a group job),
# then indented "key: value" lines (input, output, jobid, reason, wildcards, resources...).
_JOB_HEADER = re.compile(r"^\s*(?:local)?rule (\w+):\s*$")
_JOB_FIELD = re.compile(r"^\s+(\w+): (.*)$")


def job_reasons(output: str) -> dict[tuple[str, str], str]:
    """Jobs listed in snakemake output -> the ``reason:`` snakemake gives for each.

    A job is ``(rule, wildcards)`` with the wildcards as snakemake prints them, e.g.
    ``("classify_tile", "tile=500000_4100000, classifier=sam")``, or ``""`` for a rule
    without wildcards (``("all", "")``). Works on a dry-run plan (``-n``), the log of a real
    run and a SLURM job log; a job printed twice (a SLURM log holds both the job step's and
    the job's own listing) counts once.
    """
    jobs: dict[tuple[str, str], str] = {}
    lines = output.splitlines()
    i = 0
    while i < len(lines):
        m = _JOB_HEADER.match(lines[i])
        i += 1
        if not m:
            continue
        fields = {}
        while i < len(lines) and (f := _JOB_FIELD.match(lines[i])):
            fields[f.group(1)] = f.group(2).strip()
            i += 1
        key = (m.group(1), fields.get("wildcards", ""))
        jobs[key] = jobs.get(key) or fields.get("reason", "")
    return jobs


def jobs_of(output: str) -> set[tuple[str, str]]:
    """The set of ``(rule, wildcards)`` jobs listed in snakemake output (see :func:`job_reasons`)."""
    return set(job_reasons(output))


def update_config(configfile: Path, **overrides) -> Path:
    """Merge ``overrides`` into an existing config file (one level deep, as :func:`write_config`)."""
    cfg = yaml.safe_load(Path(configfile).read_text())
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key] = {**cfg[key], **value}
        else:
            cfg[key] = value
    Path(configfile).write_text(yaml.safe_dump(cfg, sort_keys=False))
    return Path(configfile)


def copy_run(workdir: Path, dest: Path) -> Path:
    """Copy a workflow directory after a run (results, ``.snakemake`` metadata, modification
    times) to ``dest``, so several tests can start from one completed run."""
    shutil.copytree(workdir, dest, symlinks=True)
    return dest


def assert_block_mean(downscaled: Path, full: Path, factor: int = 5, n: int = 10) -> None:
    """The first ``n`` x ``n`` cells of a block-mean ``downscaled`` raster are the NaN-mean of
    the ``factor`` x ``factor`` blocks of ``full`` (cells with a valid pixel)."""
    import numpy as np
    import rasterio

    with rasterio.open(downscaled) as d, rasterio.open(full) as m:
        a, whole = d.read(1), m.read(1)
    k = n * factor
    blocks = whole[:k, :k].reshape(n, factor, n, factor)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(blocks).any(axis=(1, 3))
        np.testing.assert_allclose(a[:n, :n][ok], np.nanmean(blocks, axis=(1, 3))[ok], rtol=1e-6)
