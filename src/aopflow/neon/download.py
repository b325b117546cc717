"""Download one listed NEON tile file: verified, resumable, never half-written.

What this does that the reference clients (neonutilities for Python and R) do not:

- every download checks the HTTP status, the byte count and the CRC-32C, and is written to
  ``<name>.part`` and renamed only when verified, so an error page or a truncated file never
  sits under the final name;
- interrupted transfers resume with ``Range: bytes=N-``; timeouts, dropped connections and 5xx
  are retried with exponential backoff (:class:`~aopflow.neon.client.NeonClient`); an expired
  signed URL (HTTP 400/403) triggers a fresh month listing; a 404 fails at once.

The state machine: :func:`download_tile` repeats :func:`_attempt` (one HTTP transfer into the
part file) until it returns; a failed attempt raises :class:`_Retry` (try again after a
backoff) or :class:`_Expired` (get a fresh URL first); :class:`_RetryBudget` decides when to
give up.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import google_crc32c
import requests

from aopflow.errors import DownloadError
from aopflow.neon.client import (
    NETWORK_ERRORS,
    RETRY_STATUS,
    TOKEN_ENV,
    NeonClient,
    describe,
    strip_query,
    unauthorised_message,
)
from aopflow.neon.listing import TileFile, make_refresh

log = logging.getLogger(__name__)

_MB = 1e6
_EXPIRED_STATUS = frozenset({400, 403})


class _Retry(Exception):
    """A failed attempt worth retrying; ``progressed``: the partial file grew."""

    def __init__(self, cause: str, progressed: bool = False, outcome: str | None = None) -> None:
        super().__init__(cause)
        self.cause = cause
        self.progressed = progressed
        self.outcome = outcome  # identical bad outcomes twice in a row = persistent


class _Expired(Exception):
    """The signed URL was refused (HTTP 400/403): a fresh listing entry is needed."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


def crc32c_of_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """CRC-32C (Castagnoli) of a file as 8 lowercase hex digits."""
    c = google_crc32c.Checksum()
    _checksum_file(c, path, chunk_size)
    return c.digest().hex()


def _checksum_file(c: google_crc32c.Checksum, path: str | os.PathLike, chunk_size: int) -> None:
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            c.update(chunk)


def file_matches(path: str | os.PathLike, tile: TileFile) -> bool:
    """True when ``path`` exists with ``tile.size`` bytes and (if listed) ``tile.crc32c``."""
    p = Path(path)
    if not p.is_file() or p.stat().st_size != tile.size:
        return False
    return tile.crc32c is None or crc32c_of_file(p) == tile.crc32c


class _Progress:
    """Progress lines (bytes, MB/s) at most every ``interval`` seconds, plus a final one."""

    def __init__(self, logger: logging.Logger, tile: TileFile, interval: float) -> None:
        self.log, self.tile, self.interval = logger, tile, interval
        self.t0 = self.last = time.monotonic()
        self.received = 0

    def add(self, n: int, have: int) -> None:
        self.received += n
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            rate = self.received / _MB / max(now - self.t0, 1e-9)
            self.log.info(
                "%s: %.1f of %.1f MB (%.0f%%), %.1f MB/s",
                self.tile.name,
                have / _MB,
                self.tile.size / _MB,
                100 * have / max(self.tile.size, 1),
                rate,
            )

    def done(self) -> None:
        dt = max(time.monotonic() - self.t0, 1e-9)
        self.log.info(
            "%s: downloaded %.1f MB in %.1f s (%.1f MB/s), size and crc32c %s",
            self.tile.name,
            self.received / _MB,
            dt,
            self.received / _MB / dt,
            "verified" if self.tile.crc32c else "(size only: no crc32c listed) verified",
        )


def _fail_msg(tile: TileFile, cause: str, hint: str) -> str:
    return (
        f"Download of tile {tile.tile} ({tile.name}) from {strip_query(tile.url)} failed: "
        f"{cause}. {hint}"
    )


@dataclasses.dataclass
class _RetryBudget:
    """Failed attempts of one download: ``max_retries`` retries after the first attempt."""

    max_retries: int
    failures: int = 0
    last_outcome: str | None = None

    def spend(self, tile: TileFile, cause: str, hint: str) -> None:
        """Count one failure; DownloadError(cause, hint) when no retry is left."""
        self.failures += 1
        if self.failures > self.max_retries:
            raise DownloadError(_fail_msg(tile, cause, hint))


@dataclasses.dataclass
class _TransferState:
    """What one download learnt across attempts."""

    range_ok: bool | None = None  # None: unknown (e.g. a part file from an earlier run)


def download_tile(
    client: NeonClient,
    tile: TileFile,
    dest_path: str | os.PathLike,
    *,
    refresh: Callable[[], TileFile | None] | None = None,
    progress_log: logging.Logger | None = None,
    progress_interval: float = 5.0,
    chunk_size: int = 1 << 20,
) -> Path:
    """Download ``tile`` to ``dest_path``, verified, resumable; return ``dest_path``.

    Bytes stream to ``<dest_path>.part``; the byte count must equal ``tile.size`` and the
    CRC-32C (computed while streaming; over the existing part when resuming) must equal
    ``tile.crc32c`` when listed; then the part file is renamed to ``dest_path``. A file
    already at ``dest_path`` that matches is not downloaded again.

    Failure handling:

    - timeouts, dropped connections, HTTP 5xx: retry after ``client.backoff_delay`` (an
      interrupted attempt that extended the part file does not use up a retry); the transfer
      resumes with ``Range: bytes=N-``, or restarts from 0 when the server answers 200;
    - HTTP 400/403 (expired signed URL): ``refresh()`` returns a fresh TileFile (new URL) or
      ``None`` (no longer listed); without ``refresh`` this fails at once;
    - HTTP 404: DownloadError at once; HTTP 429: waits ``x-ratelimit-reset`` (client);
    - checksum or size mismatch: the part file is deleted and the download retried; the same
      wrong result twice in a row fails at once (the server keeps serving those bytes).

    After ``client.max_retries`` retries: DownloadError naming the tile, the URL without its
    query and the last cause. The part file of an interrupted transfer is kept for resuming;
    a corrupt one is deleted. Nothing unverified is ever left under ``dest_path``.
    """
    logger = progress_log or log
    dest = Path(dest_path)
    if _already_present(dest, tile, logger):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    budget = _RetryBudget(client.max_retries)
    state = _TransferState()
    while True:
        try:
            _attempt(client, tile, part, logger, progress_interval, chunk_size, state)
        except _Retry as exc:
            _wait_to_retry(client, tile, exc, budget, logger)
        except _Expired as exc:
            tile = _fresh_entry(tile, exc, refresh, budget, part, logger)
        else:
            os.replace(part, dest)
            return dest


def _already_present(dest: Path, tile: TileFile, logger: logging.Logger) -> bool:
    if not dest.exists():
        return False
    if file_matches(dest, tile):
        logger.info(
            "%s: already present with the listed size%s; not downloading",
            dest.name,
            " and crc32c" if tile.crc32c else "",
        )
        return True
    logger.warning("%s exists but differs from the listing (size/crc32c); downloading again", dest)
    return False


def _wait_to_retry(
    client: NeonClient, tile: TileFile, exc: _Retry, budget: _RetryBudget, logger: logging.Logger
) -> None:
    """Account for a failed attempt and sleep the backoff; DownloadError when giving up."""
    if exc.outcome is not None and exc.outcome == budget.last_outcome:
        raise DownloadError(
            _fail_msg(
                tile,
                f"{exc.cause} (same result twice in a row)",
                "The server keeps sending data that do not match the listing; retry later "
                "or report it to NEON.",
            )
        )
    budget.last_outcome = exc.outcome
    if not exc.progressed:
        budget.spend(
            tile,
            exc.cause,
            f"Gave up after {budget.max_retries + 1} failed attempts; check the network and "
            f"rerun (the partial file is kept and resumed).",
        )
    delay = client.backoff_delay(max(budget.failures, 1))
    if exc.progressed:
        logger.warning(
            "%s: %s; resuming in %.1f s (progress was made: not counted as a failure)",
            tile.name,
            exc.cause,
            delay,
        )
    else:
        logger.warning(
            "%s: %s; retrying in %.1f s (failure %d of %d allowed)",
            tile.name,
            exc.cause,
            delay,
            budget.failures,
            budget.max_retries,
        )
    client.sleep(delay)


def _fresh_entry(
    tile: TileFile,
    exc: _Expired,
    refresh: Callable[[], TileFile | None] | None,
    budget: _RetryBudget,
    part: Path,
    logger: logging.Logger,
) -> TileFile:
    """The tile's entry from a fresh listing (new signed URL); DownloadError when there is none."""
    cause = f"HTTP {exc.status} (signed URL expired or refused)"
    if refresh is None:
        raise DownloadError(
            _fail_msg(
                tile,
                cause,
                "List the tiles again (rerun the listing step) to get fresh download URLs.",
            )
        )
    budget.spend(
        tile, cause, f"Fresh URLs from a new listing were refused too; check {TOKEN_ENV} and retry."
    )
    logger.warning("%s: %s; fetching a fresh listing for a new URL", tile.name, cause)
    try:
        fresh = refresh()
    except DownloadError as rexc:
        raise DownloadError(
            _fail_msg(tile, cause, f"Fetching a fresh listing failed too: {rexc}")
        ) from None
    if fresh is None:
        raise DownloadError(
            _fail_msg(
                tile, cause, "The tile is no longer in the NEON listing; list the tiles again."
            )
        )
    if (fresh.size, fresh.crc32c) != (tile.size, tile.crc32c):
        logger.warning("%s changed on the server (size/crc32c); restarting", tile.name)
        part.unlink(missing_ok=True)
    return fresh


def _attempt(
    client: NeonClient,
    tile: TileFile,
    part: Path,
    logger: logging.Logger,
    interval: float,
    chunk_size: int,
    state: _TransferState,
) -> None:
    """One transfer attempt into ``part``; returns only when ``part`` is the verified file."""
    offset = _resume_offset(tile, part, state)
    if offset is None:
        return  # a previous run got everything but did not rename
    # identity: byte counts, checksums and ranges refer to the stored bytes, not a gzip stream.
    headers = {"Accept": "*/*", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        resp = client.request(tile.url, headers=headers, stream=True)
    except NETWORK_ERRORS as exc:
        raise _Retry(describe(exc)) from None
    except DownloadError as exc:  # rate limit never lifted: say which tile
        raise DownloadError(_fail_msg(tile, "HTTP 429 (rate limit)", str(exc))) from None
    with resp:
        _check_status(resp, tile, part, client.has_token)
        offset = _check_range(resp, tile, part, offset, state, logger)
        crc, have, progress = _stream(resp, tile, part, offset, logger, interval, chunk_size)
    if have < tile.size:
        raise _Retry(
            f"connection closed after {have} of {tile.size} bytes", progressed=have > offset
        )
    digest = crc.digest().hex()
    if tile.crc32c is not None and digest != tile.crc32c:
        part.unlink()
        raise _Retry(
            f"crc32c mismatch: got {digest}, listing says {tile.crc32c}", outcome=f"crc:{digest}"
        )
    progress.done()


def _resume_offset(tile: TileFile, part: Path, state: _TransferState) -> int | None:
    """Byte offset to resume at (0: start afresh); ``None`` when ``part`` is already complete.

    A part file longer than the tile, or one the server cannot resume (no Range support), is
    deleted; a complete but corrupt one too.
    """
    offset = part.stat().st_size if part.exists() else 0
    if offset > tile.size or (offset and state.range_ok is False):
        part.unlink()
        return 0
    if offset and offset == tile.size:
        if tile.crc32c is None or crc32c_of_file(part) == tile.crc32c:
            return None
        part.unlink()
        return 0
    return offset


def _check_status(resp: requests.Response, tile: TileFile, part: Path, has_token: bool) -> None:
    """Raise for every status other than 200/206: at once, or as _Retry/_Expired."""
    status = resp.status_code
    if status in (200, 206):
        return
    if status == 404:
        raise DownloadError(
            _fail_msg(
                tile,
                "HTTP 404 (not found)",
                "The file is listed but missing on the server; list the tiles again or "
                "report it to NEON.",
            )
        )
    if status in _EXPIRED_STATUS:
        raise _Expired(status)
    if status == 401:
        raise DownloadError(
            _fail_msg(tile, "HTTP 401", unauthorised_message(strip_query(tile.url), has_token))
        )
    if status in RETRY_STATUS:
        raise _Retry(f"HTTP {status}")
    if status == 416:  # our offset is past the server's end: the part file is stale
        part.unlink(missing_ok=True)
        raise _Retry("HTTP 416 (range not satisfiable); restarting from 0")
    raise DownloadError(
        _fail_msg(tile, f"unexpected HTTP {status}", "Report this to NEON if it persists.")
    )


def _check_range(
    resp: requests.Response,
    tile: TileFile,
    part: Path,
    offset: int,
    state: _TransferState,
    logger: logging.Logger,
) -> int:
    """The offset the response body starts at (206: ours; 200: 0); checks announced lengths."""
    if resp.status_code == 206:
        start = _content_range_start(resp.headers.get("Content-Range"))
        if not offset or start != offset:
            part.unlink(missing_ok=True)
            raise _Retry(f"HTTP 206 for bytes {start} instead of {offset}; restarting")
        state.range_ok = True
        return offset
    state.range_ok = resp.headers.get("Accept-Ranges", "").lower() == "bytes"
    if offset:
        logger.info("%s: server ignored the Range request (HTTP 200); restarting from 0", tile.name)
    length = resp.headers.get("Content-Length")
    encoded = resp.headers.get("Content-Encoding", "identity") != "identity"
    if length is not None and length.isdigit() and not encoded and int(length) != tile.size:
        raise _Retry(
            f"server announces {length} bytes, the listing says {tile.size}",
            outcome=f"length:{length}",
        )
    return 0


def _stream(
    resp: requests.Response,
    tile: TileFile,
    part: Path,
    offset: int,
    logger: logging.Logger,
    interval: float,
    chunk_size: int,
) -> tuple[google_crc32c.Checksum, int, _Progress]:
    """Append the body to ``part`` (from ``offset``); return the CRC over the whole file, the
    byte count and the progress log. Network trouble mid-stream is a _Retry that keeps what
    arrived; more bytes than listed a _Retry that deletes the part file."""
    crc = google_crc32c.Checksum()
    if offset:
        _checksum_file(crc, part, 1 << 20)  # the checksum must cover the bytes already there
        logger.info("%s: resuming at byte %d of %d", tile.name, offset, tile.size)
    have = offset
    progress = _Progress(logger, tile, interval)
    too_long = False
    with open(part, "ab" if offset else "wb") as f:
        try:
            for chunk in resp.iter_content(chunk_size):
                if have + len(chunk) > tile.size:
                    too_long = True
                    break
                f.write(chunk)
                crc.update(chunk)
                have += len(chunk)
                progress.add(len(chunk), have)
            f.flush()
            os.fsync(f.fileno())
        except (requests.RequestException, ConnectionError) as exc:
            # Local disk errors are plain OSErrors and propagate; only network errors retry.
            raise _Retry(
                f"{describe(exc)} after {have} of {tile.size} bytes", progressed=have > offset
            ) from None
    if too_long:
        part.unlink(missing_ok=True)
        raise _Retry(f"server sent more than the listed {tile.size} bytes", outcome="too-long")
    return crc, have, progress


def _content_range_start(value: str | None) -> int | None:
    m = re.match(r"bytes\s+(\d+)-\d+/(\d+|\*)", value or "")
    return int(m.group(1)) if m else None


def fetch_tile(
    client: NeonClient,
    tile: TileFile,
    dest_dir: str | os.PathLike,
    *,
    product: str,
    site: str,
    progress_log: logging.Logger | None = None,
    **kwargs,
) -> Path:
    """Download ``tile`` into ``dest_dir/<tile.name>`` with URL refresh; return the path."""
    return download_tile(
        client,
        tile,
        Path(dest_dir) / tile.name,
        refresh=make_refresh(client, product=product, site=site, tile=tile),
        progress_log=progress_log,
        **kwargs,
    )
