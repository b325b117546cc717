"""Glue for Snakemake ``script:`` adapters: logging to the job's log file and error reporting."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from aopflow.errors import AopflowError
from aopflow.io import setup_logging

log = logging.getLogger("aopflow")

#: Environment variables of every job: ``rules/common.smk`` sets them (unless the user has set
#: them) before Snakemake starts any job, so local, cluster and SLURM jobs inherit them.
#:
#: ``NUMPY_MADVISE_HUGEPAGE=0``: NumPy advises huge pages (``MADV_HUGEPAGE``) for every array
#: of 4 MB or more; where the kernel's THP ``defrag`` setting is ``madvise`` (its default) the
#: first touch of advised memory compacts memory synchronously. A tile job fills up to 0.9 GB
#: of fresh arrays, so that stall is paid in every tile job, in kernel time (the measured cost
#: per job, with and without the advice: docs/performance.md, "Job environment"). With THP
#: ``always`` the kernel still backs the arrays with huge pages, without the stall.
JOB_ENVIRONMENT = {"NUMPY_MADVISE_HUGEPAGE": "0"}


def input_mb(input) -> float:
    """Total size of a job's input files in MB.

    os.stat rather than snakemake's ``input.size_mb`` (an event loop per call: seconds over the
    thousands of jobs of a big site). A missing input raises FileNotFoundError for that file,
    which snakemake takes as "evaluate again when the input exists", as with ``size_mb``.
    """
    return sum(os.path.getsize(f) for f in input) / 2**20


#: Memory of per-tile jobs, the one source of ``mem_mb`` for them (local runs and SLURM alike):
#: ``mem_mb = (base + per_file_mb * size of the job's input files in MB) * attempt``.
#: ``attempt`` is 1, then 2, ... when a job killed for exceeding its memory is resubmitted (the
#: SLURM profile's ``retries``). Calibrated on full-size 1000 x 1000 x 426 tiles (peaks measured
#: with bench/bench_chain.py and per job, see profiles/slurm/README.md): a cube job peaks at
#: 959-1,142 MB for a 543 MB band-chunked .002 file (its raw int16 cube, 852 MB, is held whole)
#: and 415 MB for a 508 MB .001 file; a few-band job at 112-122 MB for either.
#: ``bands``: h5_to_rgb, h5_to_ancillary, index_tile; ``bands_extract``: ndvi_tile with the
#: indices' band extract and AOP in the Sentinel-2 bands (about 60 bands read, 18 + 6 output
#: layers; bench/bench_indices.py); ``cube``: sample_tile, spectral_tile, h5_to_reflectance and
#: the species jobs.
TILE_MEM = {
    "bands": {"base": 200, "per_file_mb": 0.2},
    "bands_extract": {"base": 350, "per_file_mb": 0.2},
    "cube": {"base": 300, "per_file_mb": 1.6},
}


def tile_mem(kind: str) -> Callable:
    """The ``mem_mb`` resource function ``(wildcards, input, attempt) -> MB`` of a per-tile job
    of ``kind`` (a key of :data:`TILE_MEM`)."""
    m = TILE_MEM[kind]

    def mem_mb(wildcards, input, attempt):
        return int((m["base"] + m["per_file_mb"] * input_mb(input)) * attempt)

    mem_mb.__name__ = f"tile_mem_mb_{kind}"
    return mem_mb


def run(snakemake, func: Callable, /, *args, **kwargs):
    """Call ``func(*args, **kwargs)`` with logging sent to the job's ``log:`` file.

    If it fails, the job's process exits with status 1 (Snakemake marks the job failed and
    removes its outputs), and the failure is reported once:

    * an aopflow error (:class:`~aopflow.errors.AopflowError`: bad input, config, download)
      is a message written to the user, who needs what it says, not where in aopflow it was
      raised: its message is the last line of the job log, without a traceback;
    * any other exception is a bug: the log ends with its full traceback.

    It goes to the log file only, not also to the terminal: Snakemake shows a failed job's log
    (``show-failed-logs`` in ``profiles/default``), so writing it to stderr as well would print
    it twice (and on SLURM a job's stderr is not the user's terminal anyway). A job without a
    ``log:`` writes it to stderr instead.
    """
    logfile = snakemake.log[0] if len(snakemake.log) else None
    setup_logging(logfile)
    log.info("rule %s: %s (%s)", snakemake.rule, getattr(func, "__qualname__", func),
             ", ".join(f"{k}={os.environ.get(k, 'unset')}" for k in JOB_ENVIRONMENT))
    try:
        return func(*args, **kwargs)
    except AopflowError as exc:
        log.error("rule %s failed: %s", snakemake.rule, exc, extra={"console": False})
    except Exception:
        log.exception("rule %s failed with an unexpected error (a bug in aopflow; please report "
                      "it with this log):", snakemake.rule, extra={"console": False})
    raise SystemExit(1)
