"""Small I/O helpers shared by every stage: atomic writes, PNG figures, logging.

Outputs are always written to a temporary name in the destination folder and renamed into
place only when complete, so an interrupted job never leaves a half-written file under its
final name.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` if the block succeeds.

    The temporary file lives in the same directory (same filesystem) so the final
    ``os.replace`` is atomic. On any exception the temporary file is removed and the
    exception propagates; an existing file at ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sfx = suffix if suffix is not None else "".join(path.suffixes) or ".tmp"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".part{sfx}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600 files; give the result the usual permissions (0666 & ~umask).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def write_png(fig, png_path: str | os.PathLike, dpi: int) -> Path:
    """Atomically write a matplotlib ``Figure`` (made without pyplot) as PNG at ``dpi``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return Path(png_path)


def setup_logging(logfile: str | os.PathLike | None = None, level: int = logging.INFO) -> None:
    """Log to ``logfile`` (a Snakemake ``log:`` path) and to stderr, once per process."""
    console = logging.StreamHandler()
    # The job log gets everything; the terminal (shared by all jobs) only warnings, and not
    # records logged with ``extra={"console": False}`` (a job's failure: Snakemake shows the
    # failed job's log, so the terminal would get it twice).
    console.setLevel(logging.WARNING if logfile else level)
    handlers: list[logging.Handler] = [console]
    if logfile:
        console.addFilter(lambda record: getattr(record, "console", True))
        Path(logfile).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(logfile, mode="w"))
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
