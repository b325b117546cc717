"""aopflow.smk.run, the script adapters' runner: how a failing job reports its error.

Each case runs in its own Python process, as Snakemake runs a ``script:``, with the job's
``snakemake`` object reduced to what run() reads (rule name and log files).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SCRIPT = """
import types
from aopflow.errors import NeonFormatError
from aopflow.smk import run

snakemake = types.SimpleNamespace(rule="h5_to_rgb", log={log!r})

def job(kind):
    if kind == "aopflow":
        raise NeonFormatError("tile.h5: not a readable HDF5 file; delete it and fetch it again.")
    if kind == "bug":
        return {{}}["missing"]
    return 42

print(run(snakemake, job, {kind!r}))
"""


def run_job(tmp_path, kind, with_log=True):
    log = tmp_path / "job.log"
    code = textwrap.dedent(SCRIPT.format(log=[str(log)] if with_log else [], kind=kind))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    return proc, (log.read_text() if log.exists() else None)


def test_aopflow_error_is_one_message_last_in_the_log(tmp_path):
    proc, log = run_job(tmp_path, "aopflow")
    assert proc.returncode == 1
    # The terminal gets it from snakemake's dump of the failed job's log, so not from stderr too.
    assert proc.stderr == "" and proc.stdout == ""
    assert "Traceback" not in log and log.count("not a readable HDF5") == 1
    last = log.rstrip().splitlines()[-1]
    assert "ERROR aopflow: rule h5_to_rgb failed: tile.h5: not a readable HDF5 file" in last


def test_unexpected_error_keeps_its_traceback(tmp_path):
    proc, log = run_job(tmp_path, "bug")
    assert proc.returncode == 1 and proc.stderr == ""
    assert "unexpected error" in log and "Traceback (most recent call last)" in log
    assert log.rstrip().splitlines()[-1] == "KeyError: 'missing'"
    assert log.count("Traceback") == 1


@pytest.mark.parametrize("kind", ["aopflow", "bug"])
def test_job_without_log_reports_on_stderr(tmp_path, kind):
    proc, log = run_job(tmp_path, kind, with_log=False)
    assert proc.returncode == 1 and log is None
    assert proc.stderr.count("rule h5_to_rgb failed") == 1
    assert ("Traceback" in proc.stderr) == (kind == "bug")


def test_success_returns_the_result(tmp_path):
    proc, log = run_job(tmp_path, "ok")
    assert proc.returncode == 0 and proc.stdout.strip() == "42"
    assert "rule h5_to_rgb: job" in log


def test_tile_memory_follows_the_input_size_and_the_attempt(tmp_path):
    from aopflow.smk import tile_mem

    f = tmp_path / "tile.h5"
    f.write_bytes(b"\0" * (100 * 2**20))  # 100 MB
    assert tile_mem("cube")(None, [str(f)], 1) == 300 + 160
    assert tile_mem("cube")(None, [str(f)], 2) == 2 * 460
    assert tile_mem("bands")(None, [str(f), str(f)], 1) == 200 + 40
    with pytest.raises(FileNotFoundError):  # Snakemake evaluates it again once the input exists
        tile_mem("bands")(None, [str(tmp_path / "missing.h5")], 1)
