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
