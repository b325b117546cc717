"""Glue for Snakemake ``script:`` adapters: logging to the job's log file and error reporting."""

from __future__ import annotations

import logging
from collections.abc import Callable

from aopflow.errors import AopflowError
from aopflow.io import setup_logging

log = logging.getLogger("aopflow")


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
    log.info("rule %s: %s", snakemake.rule, getattr(func, "__qualname__", func))
    try:
        return func(*args, **kwargs)
    except AopflowError as exc:
        log.error("rule %s failed: %s", snakemake.rule, exc, extra={"console": False})
    except Exception:
        log.exception("rule %s failed with an unexpected error (a bug in aopflow; please report "
                      "it with this log):", snakemake.rule, extra={"console": False})
    raise SystemExit(1)
