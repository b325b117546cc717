"""Shared helpers for the benchmarks: a cached full-size NEON-format tile, timing, memory."""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
sys.path.insert(0, str(HERE.parent / "src"))

from aopflow.demo.aop import SiteSpec, write_tile  # noqa: E402
from aopflow.smk import JOB_ENVIRONMENT  # noqa: E402

FULL_SPEC = SiteSpec(site="BNCH", shape=(1, 1), pixels=1000, pixel_size=1.0, bands=426,
                     revision="002", seed=11)


def full_tile(revision: str = "002", chunks: str = "auto") -> Path:
    """A full-size (1000 x 1000 x 426) tile, generated once and cached under bench/out/."""
    spec = SiteSpec(**{**FULL_SPEC.__dict__, "revision": revision, "chunks": chunks})
    tid = spec.tile_ids()[0]
    folder = OUT / f"full_{revision}_{chunks}"
    from aopflow.demo.aop import tile_file_name

    path = folder / tile_file_name(spec, tid)
    if not path.exists():
        t0 = time.perf_counter()
        write_tile(spec, tid, folder, folder / "truth")
        print(f"generated {path.name} ({path.stat().st_size / 2**20:.0f} MiB) in "
              f"{time.perf_counter() - t0:.1f} s", flush=True)
    return path


def median_time(fn, repeats: int = 5, warmup: int = 1) -> tuple[float, list[float]]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def peak_rss_mb() -> float:
    """Peak resident memory of this process (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


#: Python source defining ``peak_mb()`` for job code run by :func:`run_job`: the process's own
#: peak resident memory in MB (VmHWM, not ru_maxrss, which Linux carries over from the forking
#: parent across exec, so a small job would report the parent's peak).
PEAK_MB_SOURCE = (
    "def peak_mb():\n"
    "    return next(int(l.split()[1]) for l in open('/proc/self/status')"
    " if l.startswith('VmHWM')) / 1024\n"
)


def job_env() -> dict[str, str]:
    """The environment a workflow job runs in: this one plus ``aopflow.smk.JOB_ENVIRONMENT``
    (which ``rules/common.smk`` sets for every job), so benchmarks time jobs as they run."""
    return {**JOB_ENVIRONMENT, **os.environ}


def run_job(code: str, *args) -> dict:
    """Run ``code`` in a fresh interpreter (``python -c code args...``) in the workflow's job
    environment (:func:`job_env`); its last stdout line is a JSON object, returned as a dict."""
    out = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                         text=True, check=True, env=job_env())
    return json.loads(out.stdout.strip().splitlines()[-1])
