"""Glue for Snakemake ``script:`` adapters: logging to the job's log file and error reporting."""

from __future__ import annotations

import logging
from collections.abc import Callable

from aopflow.io import setup_logging

log = logging.getLogger("aopflow")


def run(snakemake, func: Callable, /, *args, **kwargs):
    """Call ``func(*args, **kwargs)`` with logging sent to the job's ``log:`` file.

    An exception is written to the log (with its message, which names the file and the fix)
    and re-raised so Snakemake marks the job failed and removes its outputs.
    """
    setup_logging(snakemake.log[0] if len(snakemake.log) else None)
    log.info("rule %s: %s", snakemake.rule, getattr(func, "__qualname__", func))
    try:
        return func(*args, **kwargs)
    except Exception:
        log.exception("rule %s failed", snakemake.rule)
        raise
