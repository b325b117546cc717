"""A fake NEON Data API + signed-URL file server on a real loopback socket, for tests.

It serves the JSON shapes of the NEON Data Portal API v0 (see the docstring of
``src/aopflow/neon/listing.py`` and https://data.neonscience.org/data-api/endpoints/) and the
files themselves:

- ``GET {url}products/{dpid}``: ``{"data": {productCode, productName, ..., siteCodes: [
  {siteCode, availableMonths, availableDataUrls,
  availableReleases: [{release, availableMonths}]}]}}``;
  an unknown product code answers 404 with ``{"errors": [{"errorMessage": ...}]}`` (or 200 with the
  same body when ``unknown_product_status=200``, a shape older API versions used).
- ``GET {url}data/{dpid}/{site}/{YYYY-MM}``: ``{"data": {productCode, siteCode, month, release,
  packages, files: [{name, size, md5: null, crc32: null, crc32c, url}]}}``. Every listing issues a
  fresh signature per file: file URLs look like Google Cloud Storage signed URLs,
  ``http://127.0.0.1:PORT/files/SITE/MONTH/NAME?X-Goog-Signature=...&expires=...``; a signature
  stays valid until it is expired (fault ``"expire"``), after which only a newer listing helps.
- ``GET {url}locations/{name}``: ``{"data": {locationName, locationUtmEasting, ...,
  locationChildren, locationChildrenUrls}}`` of a location added with :meth:`add_location`
  (404 with ``errors`` otherwise).
- Files of other products (e.g. the vegetation structure tables of DP1.10098.001) are served
  under their own product code when added with ``add_file(..., product=...)``.
- ``GET /files/SITE/MONTH/NAME?...``: the bytes, with ``Accept-Ranges: bytes`` and ``Range``
  support (206 + ``Content-Range``; 416 when unsatisfiable).

Faults (:meth:`FakeNeonServer.add_fault`), per file name or for every file (``name=None``), each
consumed by ``times`` requests (``None`` = forever):

========== ==================================================================================
kind       effect
========== ==================================================================================
crc        the served bytes differ from the listing (one byte flipped in the middle)
status     answer ``status`` (default 503) with a short body instead of the file
drop       send the headers (full ``Content-Length``) and ``after_bytes`` bytes, then close
stall      sleep ``seconds`` before answering (client read timeouts)
expire     every signature issued so far for the file becomes invalid and the request gets 403;
           later requests with old signatures also get 403 until the listing is fetched again
not_found  404 for the file although it is listed
rate_limit 429 with ``x-ratelimit-remaining: 0`` and ``x-ratelimit-reset: reset`` (default 1)
no_range   ignore ``Range`` (answer 200 with the whole file) and do not send ``Accept-Ranges``
========== ==================================================================================

``api_faults`` takes the same ``status``/``rate_limit``/``stall`` kinds for the JSON endpoints
(:meth:`FakeNeonServer.add_api_fault`); ``api_remaining`` / ``api_reset`` set the
``x-ratelimit-*`` headers of every JSON answer, and ``/redirect?to=URL`` answers 302. Every
request is recorded (:attr:`requests`) and counted per path without the query string
(:attr:`counts`), so tests can assert e.g. that a second run downloaded nothing.

Use it in-process::

    with FakeNeonServer(site="DEMO", product="DP3.30006.002") as srv:
        srv.add_file("2024-06", "NEON_D00_DEMO_DP3_450000_3100000_reflectance.h5", data)
        client = NeonClient(api_url=srv.url)

or as a separate process (for a snakemake subprocess); it prints the API base URL on stdout::

    python tests/neon_server.py --dir DIR --site DEMO --product DP3.30006.002 --port 0 \\
        --month 2024-06
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import re
import secrets
import signal
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import google_crc32c

FAULT_KINDS = ("crc", "status", "drop", "stall", "expire", "not_found", "rate_limit", "no_range")
API_FAULT_KINDS = ("status", "stall", "rate_limit")
DEFAULT_RELEASE = "RELEASE-2026"
PRODUCT_NAMES = {
    "DP3.30006.001": "Spectrometer orthorectified surface directional reflectance - mosaic",
    "DP3.30006.002": "Spectrometer orthorectified surface bidirectional reflectance - mosaic",
    "DP3.30015.001": "Ecosystem structure",
}
_MONTH_RE = re.compile(r"^\d{4}-\d{2}$")
_CHUNK = 64 * 1024


def crc32c_hex(data: bytes) -> str:
    """Castagnoli CRC-32C of ``data`` as 8 lowercase hex digits (the NEON API ``crc32c`` field)."""
    return google_crc32c.Checksum(data).digest().hex()


def _crc32c_file(path: Path) -> str:
    c = google_crc32c.Checksum()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            c.update(chunk)
    return c.digest().hex()


@dataclasses.dataclass
class ServedFile:
    """One file of the fake listing; bytes in ``data`` or in the file ``path`` (read on demand)."""

    site: str
    month: str
    name: str
    release: str
    size: int
    crc32c: str | None
    data: bytes | None = None
    path: Path | None = None
    product: str | None = None  # None: the server's product

    def read(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Yield the bytes ``[start, end)`` in chunks."""
        end = self.size if end is None else end
        if self.data is not None:
            for pos in range(start, end, _CHUNK):
                yield self.data[pos : min(pos + _CHUNK, end)]
            return
        assert self.path is not None
        with open(self.path, "rb") as f:
            f.seek(start)
            pos = start
            while pos < end:
                chunk = f.read(min(_CHUNK, end - pos))
                if not chunk:
                    break
                pos += len(chunk)
                yield chunk


@dataclasses.dataclass
class Fault:
    """A switchable misbehaviour; ``times=None`` means forever."""

    kind: str
    times: int | None = 1
    status: int = 503
    after_bytes: int = 0
    seconds: float = 1.0
    reset: int = 1


@dataclasses.dataclass(frozen=True)
class RequestRecord:
    """What the server saw: method, path (no query), query dict, lower-cased headers, status."""

    method: str
    path: str
    query: dict
    headers: dict
    status: int


class FakeNeonServer:
    """Fake NEON API + file server on ``127.0.0.1`` with an ephemeral port.

    Parameters
    ----------
    site, product:
        Default site code and the one data product code served (others answer 404).
    require_token:
        If given, API and file requests without the header ``X-API-TOKEN: <require_token>`` get 401.
    unknown_product_status:
        404 (current API) or 200 (body still carries ``errors``) for an unknown product code.
    port:
        0 = ephemeral.
    """

    def __init__(
        self,
        site: str = "DEMO",
        product: str = "DP3.30006.002",
        *,
        require_token: str | None = None,
        unknown_product_status: int = 404,
        port: int = 0,
    ) -> None:
        self.site = site
        self.product = product
        self.require_token = require_token
        self.unknown_product_status = unknown_product_status
        # x-ratelimit-remaining sent with every JSON answer (0 makes clients wait `reset`).
        self.api_remaining = 150
        self.api_reset = 60
        self._port = port
        self.files: dict[tuple[str, str, str], ServedFile] = {}  # (site, month, name)
        self.faults: dict[str | None, list[Fault]] = {}
        self.api_faults: list[Fault] = []
        self.requests: list[RequestRecord] = []
        self.counts: Counter[str] = Counter()
        self._signatures: dict[str, set[str]] = {}
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._root_url: str | None = None
        self._thread: threading.Thread | None = None
        self.locations: dict[str, dict] = {}

    # ------------------------------------------------------------------ content
    def add_location(self, name: str, data: dict) -> None:
        """Serve ``data`` (a location's ``data`` object) at ``locations/{name}``; its
        ``locationChildrenUrls`` are filled in from ``locationChildren``."""
        body = dict(data)
        body.setdefault("locationName", name)
        body["locationChildrenUrls"] = [f"{self.url}locations/{c}" for c in body.get("locationChildren", [])]
        with self._lock:
            self.locations[name] = body

    def add_file(
        self,
        month: str,
        name: str,
        data_or_path: bytes | str | Path,
        release: str = DEFAULT_RELEASE,
        *,
        site: str | None = None,
        crc32c: str | None | bool = True,
        product: str | None = None,
    ) -> ServedFile:
        """Register a file for ``site`` (default: the server's) and ``month`` (``YYYY-MM``).

        ``crc32c=True`` lists the true checksum, ``None`` lists null, a string lists that string.
        All files of one site-month must share one release (the API reports it per month).
        """
        if not _MONTH_RE.match(month):
            raise ValueError(f"month must be YYYY-MM, got {month!r}")
        site = site or self.site
        for f in self.files.values():
            if f.site == site and f.month == month and f.product == product and f.release != release:
                raise ValueError(f"{site} {month} already has release {f.release}, not {release}")
        if isinstance(data_or_path, bytes | bytearray):
            data, path, size = bytes(data_or_path), None, len(data_or_path)
            true_crc = crc32c_hex(data)
        else:
            data, path = None, Path(data_or_path)
            size = path.stat().st_size
            true_crc = _crc32c_file(path)
        listed = true_crc if crc32c is True else (crc32c or None)
        served = ServedFile(site, month, name, release, size, listed, data, path, product)
        with self._lock:
            self.files[(site, month, name)] = served
            self._signatures.setdefault((site, month, name), set())
        return served

    def add_directory(
        self, directory: str | Path, month: str, release: str = DEFAULT_RELEASE, pattern: str = "*"
    ) -> list[ServedFile]:
        """Register every regular file of ``directory`` matching ``pattern`` for ``month``."""
        return [
            self.add_file(month, p.name, p, release)
            for p in sorted(Path(directory).glob(pattern))
            if p.is_file()
        ]

    def add_fault(self, name: str | None, kind: str, times: int | None = 1, **params) -> Fault:
        """Make requests for file ``name`` (``None``: every file) misbehave; see the module doc."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; must be one of {FAULT_KINDS}")
        fault = Fault(kind, times, **params)
        with self._lock:
            self.faults.setdefault(name, []).append(fault)
        return fault

    def add_api_fault(self, kind: str, times: int | None = 1, **params) -> Fault:
        """Make the next ``times`` JSON API requests misbehave (status / stall / rate_limit)."""
        if kind not in API_FAULT_KINDS:
            raise ValueError(f"unknown API fault {kind!r}; must be one of {API_FAULT_KINDS}")
        fault = Fault(kind, times, **params)
        with self._lock:
            self.api_faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()
            self.api_faults.clear()

    def expire_signatures(self, name: str | None = None) -> None:
        """Invalidate every signed URL issued so far (for ``name`` or all files)."""
        with self._lock:
            for (_site, _month, n), sigs in self._signatures.items():
                if name is None or n == name:
                    sigs.clear()

    def count(self, path_suffix: str) -> int:
        """Number of requests whose path ends with ``path_suffix`` (e.g. a file name)."""
        with self._lock:
            return sum(c for p, c in self.counts.items() if p.endswith(path_suffix))

    def file_requests(self, name: str) -> list[RequestRecord]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/" + name)]

    def reset_log(self) -> None:
        with self._lock:
            self.requests.clear()
            self.counts.clear()

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        """API base URL, e.g. ``http://127.0.0.1:41234/api/v0/``."""
        return f"{self.root_url}api/v0/"

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT/``; kept after :meth:`stop` for handlers still finishing."""
        if self._root_url is None:
            raise RuntimeError("server not started")
        return self._root_url

    def bind(self) -> FakeNeonServer:
        """Open the listening socket (done by :meth:`start`; separate for blocking use)."""
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = _Server(("127.0.0.1", self._port), handler)
        host, port = self._httpd.server_address[:2]
        self._root_url = f"http://{host}:{port}/"
        return self

    def start(self) -> FakeNeonServer:
        """Bind and serve from a daemon thread."""
        self.bind()
        # A short poll interval keeps shutdown (and so each test's teardown) fast.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.02,), name="fake-neon", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            if self._thread is not None:
                self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeNeonServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ internals (lock held)
    def _take_fault(self, faults: list[Fault], kinds: tuple[str, ...]) -> Fault | None:
        for fault in faults:
            if fault.kind in kinds and (fault.times is None or fault.times > 0):
                if fault.times is not None:
                    fault.times -= 1
                return fault
        return None

    def _file_faults(self, name: str) -> list[Fault]:
        return self.faults.get(name, []) + self.faults.get(None, [])

    def _sign(self, f: ServedFile) -> str:
        sig = secrets.token_hex(16)
        self._signatures[(f.site, f.month, f.name)].add(sig)
        expires = int(time.time()) + 7 * 86400
        return (
            f"{self.root_url}files/{f.site}/{f.month}/{f.name}"
            f"?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Signature={sig}&expires={expires}"
        )

    def _products(self) -> set[str]:
        return {self.product} | {f.product for f in self.files.values() if f.product}

    def _of(self, product: str) -> list[ServedFile]:
        return [f for f in self.files.values() if (f.product or self.product) == product]

    def _product_json(self, product: str | None = None) -> dict:
        product = product or self.product
        by_site: dict[str, dict[str, str]] = {}
        for f in self._of(product):
            by_site.setdefault(f.site, {})[f.month] = f.release
        site_codes = []
        for site in sorted(by_site):
            months = sorted(by_site[site])
            releases: dict[str, list[str]] = {}
            for m in months:
                releases.setdefault(by_site[site][m], []).append(m)
            site_codes.append(
                {
                    "siteCode": site,
                    "availableMonths": months,
                    "availableDataUrls": [
                        f"{self.url}data/{product}/{site}/{m}" for m in months
                    ],
                    "availableReleases": [
                        {"release": r, "availableMonths": ms} for r, ms in sorted(releases.items())
                    ],
                }
            )
        return {
            "data": {
                "productCodeLong": f"NEON.DOM.SITE.{product}",
                "productCode": product,
                "productCodePresentation": f"NEON.{product}",
                "productName": PRODUCT_NAMES.get(product, "AOP product"),
                "productStatus": "ACTIVE",
                "productScienceTeamAbbr": "AOP",
                "releases": [
                    {
                        "release": r,
                        "generationDate": "2026-01-01T00:00:00Z",
                        "url": f"{self.url}releases/{r}",
                    }
                    for r in sorted({f.release for f in self._of(product)} - {"PROVISIONAL"})
                ],
                "siteCodes": site_codes,
            }
        }

    def _month_json(self, site: str, month: str, product: str | None = None) -> dict | None:
        product = product or self.product
        files = [f for f in self._of(product) if f.site == site and f.month == month]
        if not files:
            return None
        return {
            "data": {
                "productCode": product,
                "siteCode": site,
                "month": month,
                "release": files[0].release,
                "packages": [],
                "files": [
                    {
                        "name": f.name,
                        "size": f.size,
                        "md5": None,
                        "crc32": None,
                        "crc32c": f.crc32c,
                        "url": self._sign(f),
                    }
                    for f in sorted(files, key=lambda f: f.name)
                ],
            }
        }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a stalled handler must not hold up shutdown
    allow_reuse_address = True


class _Handler(BaseHTTPRequestHandler):
    fake: FakeNeonServer
    protocol_version = "HTTP/1.0"  # one request per connection: a dropped stream is unambiguous
    server_version = "FakeNEON/1.0"

    def log_message(self, format, *args) -> None:  # keep test output quiet
        pass

    # ---------------------------------------------------------------- plumbing
    def _record(self, status: int) -> None:
        parts = urlsplit(self.path)
        rec = RequestRecord(
            self.command,
            unquote(parts.path),
            parse_qs(parts.query),
            {k.lower(): v for k, v in self.headers.items()},
            status,
        )
        with self.fake._lock:
            self.fake.requests.append(rec)
            self.fake.counts[rec.path] += 1

    def _send(
        self, status: int, body: bytes, ctype: str = "application/json", headers: dict | None = None
    ) -> None:
        self._record(status)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: dict, headers: dict | None = None) -> None:
        hdrs = {
            "x-ratelimit-limit": 1000 if self.fake.require_token else 200,
            "x-ratelimit-remaining": self.fake.api_remaining,
            "x-ratelimit-reset": self.fake.api_reset,
        }
        hdrs.update(headers or {})
        self._send(status, json.dumps(obj).encode(), headers=hdrs)

    def _rate_limited(self, fault: Fault) -> None:
        self._json(
            429,
            {"error": {"status": 429, "detail": "Too Many Requests"}},
            {"x-ratelimit-remaining": 0, "x-ratelimit-reset": fault.reset},
        )

    def _token_ok(self) -> bool:
        want = self.fake.require_token
        if want is None or self.headers.get("X-API-TOKEN") == want:
            return True
        self._json(401, {"errors": [{"errorMessage": "Invalid or missing API token"}]})
        return False

    # ---------------------------------------------------------------- routing
    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        try:
            path = unquote(urlsplit(self.path).path)
            if path.startswith("/api/v0/"):
                self._api(path[len("/api/v0/") :])
            elif path.startswith("/files/"):
                self._file(path[len("/files/") :])
            elif path == "/redirect":  # /redirect?to=URL -> 302 (token-leak tests)
                to = parse_qs(urlsplit(self.path).query).get("to", [""])[0]
                self._send(302, b"", "text/plain", {"Location": to})
            else:
                self._send(404, b"not found", "text/plain")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away (timeouts): nothing to answer

    do_HEAD = do_GET

    def _api(self, rest: str) -> None:
        fake = self.fake
        with fake._lock:
            fault = fake._take_fault(fake.api_faults, API_FAULT_KINDS)
        if fault is not None:
            if fault.kind == "stall":
                time.sleep(fault.seconds)
            elif fault.kind == "rate_limit":
                return self._rate_limited(fault)
            elif fault.kind == "status":
                return self._json(fault.status, {"error": {"status": fault.status}})
        if not self._token_ok():
            return
        parts = rest.strip("/").split("/")
        status, body = 404, {"errors": [{"errorMessage": f"No data found for {rest}"}]}
        with fake._lock:  # build the answer under the lock, send it outside (_record locks)
            if parts[0] == "products" and len(parts) == 2:
                if parts[1] not in fake._products():
                    status = fake.unknown_product_status
                    body = {
                        "errors": [
                            {"errorMessage": f"No data product found for product code {parts[1]}"}
                        ]
                    }
                else:
                    status, body = 200, fake._product_json(parts[1])
            elif parts[0] == "locations" and len(parts) == 2 and parts[1] in fake.locations:
                status, body = 200, {"data": fake.locations[parts[1]]}
            elif parts[0] == "data" and len(parts) == 4 and parts[1] in fake._products():
                month = fake._month_json(parts[2], parts[3], parts[1])
                if month is not None:
                    status, body = 200, month
        self._json(status, body)

    def _file(self, rest: str) -> None:
        fake = self.fake
        parts = rest.split("/")
        sig = parse_qs(urlsplit(self.path).query).get("X-Goog-Signature", [""])[0]
        corrupt, drop, no_range = False, None, False
        with fake._lock:
            f = fake.files.get(tuple(parts)) if len(parts) == 3 else None
            if f is not None:
                faults = fake._file_faults(f.name)
                pre = fake._take_fault(
                    faults, ("rate_limit", "status", "not_found", "expire", "stall")
                )
                if pre is not None and pre.kind == "expire":
                    fake._signatures[tuple(parts)].clear()
                signed = sig in fake._signatures[tuple(parts)]
                # Body faults are consumed only by a request that will get the body.
                if signed and (pre is None or pre.kind == "stall"):
                    no_range = fake._take_fault(faults, ("no_range",)) is not None
                    corrupt = fake._take_fault(faults, ("crc",)) is not None
                    drop = fake._take_fault(faults, ("drop",))
        if f is None:
            return self._send(404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")
        if pre is not None:
            if pre.kind == "stall":
                time.sleep(pre.seconds)
            elif pre.kind == "rate_limit":
                return self._rate_limited(pre)
            elif pre.kind == "status":
                return self._send(
                    pre.status, b"<Error><Code>ServiceUnavailable</Code></Error>", "application/xml"
                )
            elif pre.kind == "not_found":
                return self._send(404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")
        if not signed:
            return self._send(
                403,
                b"<Error><Code>ExpiredToken</Code><Message>Invalid or expired "
                b"signature</Message></Error>",
                "application/xml",
            )
        if not self._token_ok():
            return

        start, end, status = 0, f.size, 200
        headers = {} if no_range else {"Accept-Ranges": "bytes"}
        rng = self.headers.get("Range")
        if rng and not no_range:
            m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng.strip())
            if m is None or int(m.group(1)) >= f.size:
                return self._send(
                    416, b"", "application/octet-stream", {"Content-Range": f"bytes */{f.size}"}
                )
            start = int(m.group(1))
            end = min(int(m.group(2)) + 1, f.size) if m.group(2) else f.size
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{f.size}"

        self._record(status)
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command == "HEAD":
            return
        flip_at = f.size // 2 if corrupt else -1
        pos = start
        limit = start + drop.after_bytes if drop is not None else end
        for chunk in f.read(start, end):
            if flip_at >= 0 and pos <= flip_at < pos + len(chunk):
                b = bytearray(chunk)
                b[flip_at - pos] ^= 0xFF
                chunk = bytes(b)
            if pos + len(chunk) >= limit and drop is not None:
                self.wfile.write(chunk[: limit - pos])
                self.wfile.flush()
                # Close without completing the body: the client sees a short read.
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            self.wfile.write(chunk)
            pos += len(chunk)


def main(argv: list[str] | None = None) -> int:
    """Serve every file of ``--dir`` for one site-month until SIGTERM / Ctrl-C."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dir", required=True, type=Path, help="folder whose files are served")
    p.add_argument("--site", default="DEMO")
    p.add_argument("--product", default="DP3.30006.002")
    p.add_argument("--month", default="2024-06", help="YYYY-MM the files are listed under")
    p.add_argument("--release", default=DEFAULT_RELEASE)
    p.add_argument("--pattern", default="*", help="glob of files to serve (default: all)")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--require-token", default=None)
    args = p.parse_args(argv)
    if not args.dir.is_dir():
        p.error(f"--dir {args.dir} is not a directory")
    srv = FakeNeonServer(args.site, args.product, require_token=args.require_token, port=args.port)
    srv.add_directory(args.dir, args.month, args.release, args.pattern)
    httpd = srv.bind()._httpd
    # shutdown() blocks until serve_forever returns, so call it from another thread.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=httpd.shutdown).start())
    print(srv.url, flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
