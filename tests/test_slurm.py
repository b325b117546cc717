"""The workflow on a real SLURM cluster (`--profile profiles/slurm`) makes the same products as
a local run, and every job really ran as a SLURM job.

Needs a running SLURM whose partition `debug` takes jobs: `.ci/slurm-up.sh` starts a one-node
cluster (`.ci/run` does it in CI). Without one the test is skipped on a developer machine,
and fails under CI=true, so CI never passes without running it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio

from ci import on_ci
from smk import jobs_of, new_workflow, snakemake

pytestmark = pytest.mark.slurm

# Two tiles of 20 x 20 px at 25 m (500 m; the default downscale resolutions 50 and 100 m are
# multiples of it) with 60 bands: the whole workflow, as small as the generator allows.
SITE = {"demo": {"shape": [2, 1], "pixels": 20, "pixel_size": 25.0, "bands": 60, "seed": 7}}
PARTITION = "debug"  # the partition profiles/slurm submits to (created by .ci/slurm-up.sh)
# The slurm plugin polls job states with a growing back-off (10 s more per empty poll), so even
# this tiny site takes minutes; the run is interrupted (SIGINT: snakemake cancels its SLURM
# jobs) after RUN_SECONDS, and pytest-timeout stops everything after 900 s.
RUN_SECONDS = 780
OUT = Path("results/DEMO/2024")


def slurm_unavailable() -> str | None:
    """Why no SLURM can take the jobs here, or None if partition PARTITION has a usable node."""
    if shutil.which("sinfo") is None:
        return "SLURM client commands (sinfo) are not installed"
    try:
        proc = subprocess.run(["sinfo", "-h", "-p", PARTITION, "-o", "%a %T"], check=False, capture_output=True,
                              text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return "the SLURM controller did not answer `sinfo` within 60 s"
    if proc.returncode != 0:
        return f"the SLURM controller does not answer: `sinfo` failed: {proc.stderr.strip()}"
    states = [line.split() for line in proc.stdout.splitlines() if line.strip()]
    if not states:
        return f"SLURM has no partition {PARTITION!r} (the one profiles/slurm submits to)"
    if not any(avail == "up" and state.rstrip("*~#") in ("idle", "mixed", "allocated", "completing")
               for avail, state in states):
        return f"partition {PARTITION!r} has no usable node (sinfo: {proc.stdout.strip()!r})"
    return None


@pytest.fixture
def slurm():
    reason = slurm_unavailable()
    if reason is None:
        return
    if on_ci():
        pytest.fail(f"{reason}. CI=true: the SLURM test must run; .ci/run starts SLURM with .ci/slurm-up.sh.")
    pytest.skip(f"{reason}; start a local cluster with `sudo bash .ci/slurm-up.sh` to run this test")


class SqueueWatcher:
    """Polls `squeue -t all` while the workflow runs and remembers every job it saw.

    The test cluster keeps finished jobs visible for MinJobAge = 600 s only; polling during
    the run sees each job even if the run takes longer than that.
    """

    def __init__(self, interval: float = 10.0):
        self.seen: dict[str, tuple[str, str]] = {}  # SLURM job id -> (job name, state)
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def poll(self) -> None:
        proc = subprocess.run(["squeue", "-t", "all", "-h", "-o", "%i|%j|%T"], check=False, capture_output=True,
                              text=True, timeout=60)
        for line in proc.stdout.splitlines():
            jobid, name, state = line.strip().split("|")
            self.seen[jobid] = (name, state)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self.poll()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=120)
        self.poll()


def scontrol_job(jobid: str) -> tuple[str, str] | None:
    """(job name, state) of a job the controller still knows, else None."""
    proc = subprocess.run(["scontrol", "show", "job", jobid], check=False, capture_output=True, text=True,
                          timeout=60)
    name = re.search(r"JobName=(\S+)", proc.stdout)
    state = re.search(r"JobState=(\S+)", proc.stdout)
    return (name.group(1), state.group(1)) if proc.returncode == 0 and name and state else None


def run_slurm(wd: Path, cfg: Path) -> tuple[int, str]:
    """Run the workflow with ``--profile profiles/slurm``; returns (exit status, output)."""
    # `timeout -s INT`: on overrun snakemake gets Ctrl-C and cancels its SLURM jobs (scancel);
    # -k: SIGKILL 60 s later if it still has not stopped.
    cmd = ["timeout", "-s", "INT", "-k", "60", str(RUN_SECONDS), sys.executable, "-m", "snakemake",
           "--profile", "profiles/slurm", "--configfile", str(cfg)]
    with open(wd / "slurm_run.log", "w") as log:
        proc = subprocess.Popen(cmd, cwd=wd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            proc.wait(timeout=RUN_SECONDS + 120)
        finally:
            # Stopped early (pytest-timeout, an error here): `timeout` passes SIGINT on to
            # snakemake, which cancels its SLURM jobs; then kill what is left of the group.
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=90)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=30)
    return proc.returncode, (wd / "slurm_run.log").read_text()


def read_raster(path: Path) -> tuple[np.ndarray, object, object]:
    with rasterio.open(path) as src:
        return src.read(), src.transform, src.crs


@pytest.mark.timeout(900)
def test_slurm_run_matches_local_run(slurm, tmp_path):
    wd_slurm, cfg_slurm = new_workflow(tmp_path / "slurm", **SITE)
    wd_local, cfg_local = new_workflow(tmp_path / "local", **SITE)
    # The local run (--cores 2) runs alongside: the SLURM run mostly waits on status polls.
    with ThreadPoolExecutor(1) as pool, SqueueWatcher() as watcher:
        local = pool.submit(snakemake, wd_local, "--configfile", str(cfg_local), timeout=RUN_SECONDS)
        returncode, text = run_slurm(wd_slurm, cfg_slurm)
        local_proc = local.result()
    assert returncode == 0, f"SLURM run failed ({returncode}; 124: stopped after {RUN_SECONDS} s):\n{text[-8000:]}"

    # -- every job went to SLURM: one sbatch per job (group), one SLURM log per submission.
    run_id = re.search(r"SLURM run ID: (\S+)", text)
    assert run_id, text[-3000:]
    submitted = dict(re.findall(r"has been submitted with SLURM jobid (\d+) \(log: (\S+)\)\.", text))
    assert submitted, text[-3000:]
    logdir = wd_slurm / "logs" / "slurm"
    logs = {p.stem: p for p in logdir.rglob("*.log")}
    assert set(logs) == set(submitted), (sorted(logs), sorted(submitted))
    for jobid, log in submitted.items():
        assert Path(log) == logs[jobid], (jobid, log)
    # The controller knows each of those job ids: named after this run, and completed.
    for jobid in submitted:
        name, state = watcher.seen.get(jobid) or scontrol_job(jobid) or ("?", "unknown to squeue and scontrol")
        assert (name, state) == (run_id.group(1), "COMPLETED"), (jobid, name, state)
    # The jobs listed inside the SLURM logs (written by the job steps on the node) are exactly
    # the jobs of the local run, except the target rule `all`, which snakemake does itself.
    in_slurm = set().union(*(jobs_of(p.read_text()) for p in logs.values()))
    local_jobs = jobs_of(local_proc.stdout + local_proc.stderr)
    assert in_slurm == local_jobs - {("all", "")}, sorted(local_jobs ^ in_slurm)
    for log in logs.values():
        assert "--executor slurm-jobstep" in log.read_text(), log  # the job step's snakemake
    # Small per-tile jobs were bundled (the profile's groups): the SAM and SID class maps of
    # both tiles went to SLURM as one submission.
    per_log = [jobs_of(p.read_text()) for p in logs.values()]
    classify = {j for j in in_slurm if j[0] == "classify_tile"}
    assert len(classify) == 4 and any(classify <= jobs for jobs in per_log), per_log
    assert len(submitted) < len(in_slurm)

    # The jobs on the node got the workflow's job environment through sbatch.
    from aopflow.smk import JOB_ENVIRONMENT

    job_logs = sorted((wd_slurm / OUT / "logs" / "spectral_tile").glob("*.log"))
    assert job_logs
    for job_log in job_logs:
        for name, value in JOB_ENVIRONMENT.items():
            assert f"{name}={os.environ.get(name, value)}" in job_log.read_text(), job_log

    # -- the products are those of the local run.
    a, b = wd_slurm / OUT, wd_local / OUT
    rasters = sorted(p.relative_to(b) for d in ("mosaic", "downscale") for p in (b / d).glob("*.tif"))
    assert {str(p) for p in rasters} >= {f"mosaic/{n}.tif" for n in ("rgb", "wqi", "abundance", "sam", "sid", "ndvi")}
    for rel in rasters:
        got, want = read_raster(a / rel), read_raster(b / rel)
        assert got[1:] == want[1:], rel  # transform, CRS
        if want[0].dtype.kind == "f":
            # Floats allow for a different order of BLAS reductions on the SLURM node.
            np.testing.assert_allclose(got[0], want[0], rtol=1e-6, atol=1e-7, equal_nan=True, err_msg=str(rel))
        else:
            np.testing.assert_array_equal(got[0], want[0], err_msg=str(rel))
    em_got, em_want = pd.read_csv(a / "endmembers.csv"), pd.read_csv(b / "endmembers.csv")
    assert list(em_got.columns) == list(em_want.columns)
    np.testing.assert_allclose(em_got.to_numpy(), em_want.to_numpy(), rtol=1e-6)
    pd.testing.assert_frame_equal(pd.read_csv(a / "tiles.csv"), pd.read_csv(b / "tiles.csv"))
    for table in sorted(b.glob("zonal/*.csv")):
        pd.testing.assert_frame_equal(pd.read_csv(a / table.relative_to(b)), pd.read_csv(table), rtol=1e-6)
