"""One answer to "are the tests running in CI?" for every test that must not skip there."""

from __future__ import annotations

import os


def on_ci() -> bool:
    """True when the environment variable ``CI`` is ``true`` or ``1`` (any case), as CI
    services set it; then a missing tool fails its test instead of skipping it."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1")
