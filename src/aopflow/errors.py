"""One error hierarchy for aopflow.

Every error raised on bad user input is an :class:`AopflowError` whose message says what was
wrong, where (file, tile, config key) and how to fix it. The message is what the user sees:
raised in a job, :func:`aopflow.smk.run` writes it as the last line of the job's log, without a
traceback (snakemake shows the failed job's log); raised while snakemake parses the workflow
(``rules/common.smk``, :mod:`aopflow.startup`), snakemake prints it with the class name; the
``aopflow`` command prints it and exits with status 1.
"""

from __future__ import annotations


class AopflowError(Exception):
    """Base class of every error aopflow raises on purpose."""


class NeonFormatError(AopflowError):
    """A file is not a readable NEON AOP reflectance tile (or lacks a requested layer)."""


class SiteError(AopflowError):
    """Tiles of a site do not fit together (CRS, grid, extent)."""


class ConfigError(AopflowError):
    """A configuration value is invalid or inconsistent with the data."""


class DownloadError(AopflowError):
    """A NEON Data API request or file download failed for good."""


class InputDataError(AopflowError):
    """A user-supplied vector or raster input (plots, library CSV, user raster) is invalid."""
