"""Run snakemake as a user would (a subprocess in a copy of the workflow)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from conftest import copy_workflow


def write_config(workdir: Path, **overrides) -> Path:
    """Write ``workdir/test_config.yaml``: the shipped config with ``overrides`` merged in."""
    cfg = yaml.safe_load((workdir / "config" / "config.yaml").read_text())
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
    cfg = {"demo": {"shape": [2, 2], "pixels": 30, "pixel_size": 20.0, "bands": 100, "seed": 5}}
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
