"""Real loopback servers for the Sentinel-2 tests: COG HTTP server, STAC API, fault wrappers.

Import the fixtures you need into a test module (they are session-scoped and shared)::

    from s2_servers import s2_demo, cog_server, stac_api  # noqa: F401  (pytest fixtures)

Fixtures
--------
``s2_demo`` -> :class:`S2Demo`
    The demo scenes (:data:`aopflow.demo.sentinel2.DEFAULT_SCENES` plus the pre-04.00 scene of
    2021-07-20, ``include_pre04=True``) of the default AOP demo site (``SiteSpec()``: EPSG:32611,
    origin (500000, 4100000), 3 x 2 km) written once per session by
    :func:`aopflow.demo.sentinel2.write_demo_scenes`. Attributes ``dir`` (the demo directory:
    ``items.json``, ``scenes/``, ``truth/``), ``items_json``, ``aop`` (SiteSpec), ``spec``
    (S2DemoSpec), ``items`` (list of item dicts with local hrefs). Truth: ``load_truth(dir,
    date, mask_classes, resolution)`` from aopflow.demo.sentinel2.

``cog_server`` -> :class:`CogServer`
    uvicorn + starlette ``StaticFiles`` over ``s2_demo.dir`` in a subprocess on 127.0.0.1
    (HEAD, ``Range`` -> 206 + ``Content-Range``). ``url`` (``http://127.0.0.1:PORT/``, a file is
    ``url + "scenes/<item_id>/red.tif"``), ``pid``. Access log of every request:
    ``log()`` -> list of ``{"method", "path", "status", "range", "bytes"}`` (bytes = body bytes
    sent), ``bytes_served(prefix="")`` -> ``{path: bytes}`` for paths starting with ``prefix``,
    ``reset_log()``. Faults (each consumed by ``times`` requests, ``None`` = until cleared):
    ``add_fault("drop", path, times=1, after_bytes=4096)`` sends the headers and
    ``after_bytes`` bytes of the body and then drops the connection;
    ``add_fault("404", path, times=None)`` answers 404; ``clear_faults()``. ``path`` is
    relative to the served directory, e.g. ``"scenes/S2B_11SMB_20240615_0_L2A/nir.tif"``.

``stac_api`` -> :class:`StacApi`
    stac-fastapi-pgstac over a throwaway PostgreSQL 15 + PostGIS cluster (Debian packages
    postgresql-15, postgresql-15-postgis-3), ``context`` on (``numberMatched``), holding
    collection ``sentinel-2-l2a`` with the ``s2_demo`` items whose asset hrefs point at
    ``cog_server``. Server-side filters: bbox, intersects, datetime, ``query``, CQL2 ``filter``,
    paging. Attributes: ``url`` (API root, e.g. ``http://127.0.0.1:PORT/``; pass it as
    ``sentinel2.api_url``), ``flaky_url`` (= ``url + "flaky/"``: the same API, but the first
    ``set_flaky(n)`` requests answer 503; default n = 0, i.e. pass-through), ``noquery_url``
    (= ``url + "noquery/"``: the same API ignoring ``query``: it is removed from GET
    parameters and POST bodies of ``/search`` and ``/collections/*/items``), ``collection``
    (``"sentinel-2-l2a"``), ``pid`` (uvicorn), ``dsn``. Methods: ``set_flaky(n)``,
    ``faults()`` -> ``{"flaky_remaining", "flaky_served", "query_stripped"}``,
    ``load(items, collection)`` to add (upsert) another collection of item dicts (hrefs as
    given; use ``rewrite_hrefs(items, s2_demo.dir, cog_server.url)`` for local items), e.g.
    one item without ``raster:bands``.

Both servers are stopped by pid at the end of the session (the PostgreSQL cluster with
``pg_ctl stop`` on its data directory). When the Debian packages are missing the STAC fixture
skips with the reason, except under CI (``CI`` = true or 1) where it fails.

Environment for GDAL clients of ``cog_server`` (see ``GDAL_ENV``): readdir off, ``.tif`` only,
``NO_PROXY`` for loopback.

Run a server by hand: ``python tests/s2_servers.py cog --dir DIR --port P`` or
``python tests/s2_servers.py stac --port P`` (PG* environment variables set).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PG_BIN = Path("/usr/lib/postgresql/15/bin")
POSTGIS_CONTROL = Path("/usr/share/postgresql/15/extension/postgis.control")
COLLECTION = "sentinel-2-l2a"
GDAL_ENV = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1")


def skip_or_fail(reason: str):
    if in_ci():
        pytest.fail(f"{reason} (CI={os.environ.get('CI')} requires it; .ci/run installs it)")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_request(url: str, data: bytes | None = None, method: str | None = None, timeout: float = 5.0):
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read()


def _wait_http(url: str, proc: subprocess.Popen, logfile: Path, timeout: float = 60.0) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}); log {logfile}:\n"
                               + logfile.read_text()[-3000:])
        with contextlib.suppress(OSError, urllib.error.URLError):
            status, _ = http_request(url, timeout=2.0)
            if status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"server at {url} not ready after {timeout:g} s; log {logfile}")


def stop_process(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout)


# ============================================================================================
# ASGI apps (run inside the server subprocesses)


async def _send_json(send, status: int, obj) -> int:
    body = json.dumps(obj).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
    return len(body)


async def _read_body(receive) -> bytes:
    body = b""
    while True:
        msg = await receive()
        body += msg.get("body", b"")
        if not msg.get("more_body"):
            return body


class DroppedConnection(Exception):
    """Raised after a partial body so uvicorn closes the connection (fault ``drop``)."""


class CogApp:
    """StaticFiles over a directory with an access log and fault injection (see module doc)."""

    def __init__(self, directory: str):
        from starlette.staticfiles import StaticFiles

        self.static = StaticFiles(directory=directory)
        self.log: list[dict] = []
        self.faults: list[dict] = []

    def _fault(self, path: str):
        for f in self.faults:
            if f["path"] == path and (f["times"] is None or f["times"] > 0):
                if f["times"] is not None:
                    f["times"] -= 1
                return f
        return None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == "/_log":
            if scope["method"] == "DELETE":
                self.log.clear()
            await _send_json(send, 200, self.log)
            return
        if path == "/_faults":
            if scope["method"] == "POST":
                body = json.loads(await _read_body(receive) or b"{}")
                if body.get("clear"):
                    self.faults.clear()
                else:
                    self.faults.append(body)
            await _send_json(send, 200, self.faults)
            return
        headers = dict(scope.get("headers") or [])
        rel = path.lstrip("/")
        entry = {"method": scope["method"], "path": rel, "status": None,
                 "range": headers.get(b"range", b"").decode() or None, "bytes": 0}
        self.log.append(entry)
        fault = self._fault(rel)
        if fault and fault["kind"] == "404":
            entry["status"] = 404
            entry["bytes"] = await _send_json(send, 404, {"detail": f"{rel} not found (fault)"})
            return
        limit = fault.get("after_bytes", 4096) if fault and fault["kind"] == "drop" else None

        async def counting_send(msg):
            if msg["type"] == "http.response.start":
                entry["status"] = msg["status"]
            elif msg["type"] == "http.response.body":
                body = msg.get("body", b"")
                if limit is not None and entry["bytes"] + len(body) > limit:
                    part = body[: max(0, limit - entry["bytes"])]
                    entry["bytes"] += len(part)
                    entry["dropped"] = True
                    await send({"type": "http.response.body", "body": part, "more_body": True})
                    raise DroppedConnection(f"fault: connection dropped after {limit} bytes of {rel}")
                entry["bytes"] += len(body)
            await send(msg)

        await self.static(scope, receive, counting_send)


def _rooted(scope, prefix: str):
    scope = dict(scope)
    scope["root_path"] = scope.get("root_path", "") + prefix
    if scope["path"] == scope["root_path"]:
        scope["path"] += "/"
        scope["raw_path"] = scope["path"].encode()
    return scope


class StacWrapper:
    """The STAC API app at ``/``, plus ``/flaky/`` (503 while armed) and ``/noquery/``."""

    def __init__(self, app):
        self.app = app
        self.state = {"flaky_remaining": 0, "flaky_served": 0, "query_stripped": 0}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        if path == "/_faults":
            if scope["method"] == "POST":
                body = json.loads(await _read_body(receive) or b"{}")
                self.state["flaky_remaining"] = int(body.get("flaky", 0))
                self.state["flaky_served"] = 0
            await _send_json(send, 200, self.state)
            return
        if path == "/flaky" or path.startswith("/flaky/"):
            if self.state["flaky_remaining"] > 0:
                self.state["flaky_remaining"] -= 1
                self.state["flaky_served"] += 1
                await _send_json(send, 503, {"code": "ServiceUnavailable",
                                             "description": "fault: temporarily unavailable"})
                return
            scope = _rooted(scope, "/flaky")
        elif path == "/noquery" or path.startswith("/noquery/"):
            scope = _rooted(scope, "/noquery")
            sub = scope["path"][len(scope["root_path"]):]
            if sub.rstrip("/").endswith("/search") or sub.rstrip("/").endswith("/items"):
                scope, receive = await self._strip_query(scope, receive)
        return await self.app(scope, receive, send)

    async def _strip_query(self, scope, receive):
        qs = urllib.parse.parse_qsl(scope.get("query_string", b"").decode(), keep_blank_values=True)
        if any(k == "query" for k, _ in qs):
            self.state["query_stripped"] += 1
            scope = dict(scope)
            scope["query_string"] = urllib.parse.urlencode([(k, v) for k, v in qs if k != "query"]).encode()
        if scope["method"] != "POST":
            return scope, receive
        body = await _read_body(receive)
        with contextlib.suppress(ValueError, AttributeError):
            doc = json.loads(body)
            if "query" in doc:
                doc.pop("query")
                self.state["query_stripped"] += 1
                body = json.dumps(doc).encode()
        scope = dict(scope)
        scope["headers"] = [(k, v) for k, v in scope["headers"] if k != b"content-length"]
        scope["headers"].append((b"content-length", str(len(body)).encode()))
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return scope, replay


def create_stac_app():
    from stac_fastapi.pgstac.app import create_app

    return StacWrapper(create_app())


def main(argv=None) -> None:
    import uvicorn

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("kind", choices=["cog", "stac"])
    p.add_argument("--dir")
    p.add_argument("--port", type=int, required=True)
    a = p.parse_args(argv)
    if a.kind == "cog":
        uvicorn.run(CogApp(a.dir), host="127.0.0.1", port=a.port, log_level="warning",
                    lifespan="off", access_log=False)
    else:
        uvicorn.run(create_stac_app(), host="127.0.0.1", port=a.port, log_level="warning",
                    access_log=False)


# ============================================================================================
# Fixture objects (test process side)


@dataclass
class S2Demo:
    dir: Path
    items_json: Path
    aop: object
    spec: object
    items: list[dict] = field(default_factory=list)


@dataclass
class CogServer:
    url: str
    proc: subprocess.Popen
    logfile: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> list[dict]:
        return json.loads(http_request(self.url + "_log")[1])

    def reset_log(self) -> None:
        http_request(self.url + "_log", method="DELETE")

    def bytes_served(self, prefix: str = "") -> dict[str, int]:
        out: dict[str, int] = {}
        for e in self.log():
            if e["path"].startswith(prefix):
                out[e["path"]] = out.get(e["path"], 0) + e["bytes"]
        return out

    def add_fault(self, kind: str, path: str, times: int | None = 1, after_bytes: int = 4096) -> None:
        if kind not in ("drop", "404"):
            raise ValueError(f"unknown COG server fault {kind!r}: drop or 404")
        body = {"kind": kind, "path": path.lstrip("/"), "times": times, "after_bytes": after_bytes}
        http_request(self.url + "_faults", json.dumps(body).encode(), "POST")

    def clear_faults(self) -> None:
        http_request(self.url + "_faults", json.dumps({"clear": True}).encode(), "POST")


@dataclass
class StacApi:
    url: str
    proc: subprocess.Popen
    dsn: str
    logfile: Path
    collection: str = COLLECTION

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def flaky_url(self) -> str:
        return self.url + "flaky/"

    @property
    def noquery_url(self) -> str:
        return self.url + "noquery/"

    def set_flaky(self, n: int) -> None:
        http_request(self.url + "_faults", json.dumps({"flaky": int(n)}).encode(), "POST")

    def faults(self) -> dict:
        return json.loads(http_request(self.url + "_faults")[1])

    def load(self, items: list[dict], collection: str) -> None:
        """Upsert ``collection`` (made from the items' extent) and its items."""
        from aopflow.demo.sentinel2 import collection_dict

        items = [dict(it, collection=collection) for it in items]
        with tempfile.TemporaryDirectory(prefix="aopflow-stac-load-") as d:
            coll = Path(d) / "collection.json"
            nd = Path(d) / "items.ndjson"
            coll.write_text(json.dumps(collection_dict(items, collection)))
            nd.write_text("".join(json.dumps(it) + "\n" for it in items))
            _pgstac_load(self.dsn, coll, nd)


def _pgstac_load(dsn: str, collection_file: Path, items_file: Path) -> None:
    from pypgstac.db import PgstacDB
    from pypgstac.load import Loader, Methods

    with PgstacDB(dsn=dsn) as db:
        loader = Loader(db=db)
        loader.load_collections(str(collection_file), Methods.upsert)
        loader.load_items(str(items_file), Methods.upsert)


def start_server(args: list[str], logfile: Path, ready_url: str, env=None, cwd=None) -> subprocess.Popen:
    fh = open(logfile, "w")
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), *args], stdout=fh,
                            stderr=subprocess.STDOUT, env=env, cwd=cwd)
    fh.close()
    try:
        _wait_http(ready_url, proc, logfile)
    except BaseException:
        stop_process(proc)
        raise
    return proc


# ============================================================================================
# Fixtures


@pytest.fixture(scope="session")
def s2_demo(tmp_path_factory) -> S2Demo:
    from aopflow.demo.aop import SiteSpec
    from aopflow.demo.sentinel2 import S2DemoSpec, demo_items, write_demo_scenes

    aop = SiteSpec()
    spec = S2DemoSpec(include_pre04=True)
    out = tmp_path_factory.mktemp("s2demo")
    path = write_demo_scenes(aop, spec, out)
    return S2Demo(out, path, aop, spec, demo_items(out))


@pytest.fixture(scope="session")
def cog_server(s2_demo, tmp_path_factory):
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    logfile = tmp_path_factory.mktemp("cogsrv") / "server.log"
    proc = start_server(["cog", "--dir", str(s2_demo.dir), "--port", str(port)], logfile, url + "_log")
    try:
        yield CogServer(url, proc, logfile)
    finally:
        stop_process(proc)


def pg_missing() -> str | None:
    if not (PG_BIN / "initdb").exists():
        return f"PostgreSQL 15 is not installed ({PG_BIN}/initdb missing): apt-get install postgresql-15"
    if not POSTGIS_CONTROL.exists():
        return f"PostGIS is not installed ({POSTGIS_CONTROL} missing): apt-get install postgresql-15-postgis-3"
    for mod in ("stac_fastapi.pgstac", "pypgstac", "psycopg", "uvicorn"):
        try:
            __import__(mod)
        except ImportError:
            return f"Python package {mod} is missing: pip install -e '.[test]'"
    return None


@contextlib.contextmanager
def postgres_cluster():
    """A throwaway PostgreSQL cluster with database ``stac`` + PostGIS; yields (dsn, port)."""
    # Not under tmp_path: its parent is mode 0700 and user postgres could not enter it.
    base = Path(tempfile.mkdtemp(prefix="aopflow-pg-"))
    os.chmod(base, 0o755)
    data = base / "pgdata"
    port = free_port()
    as_root = os.geteuid() == 0
    if as_root:
        import pwd

        pw = pwd.getpwnam("postgres")
        os.chown(base, pw.pw_uid, pw.pw_gid)
    run_as = ["runuser", "-u", "postgres", "--"] if as_root else []

    def pg(*cmd, check=True):
        return subprocess.run(run_as + [str(PG_BIN / cmd[0]), *cmd[1:]], check=check,
                              capture_output=True, text=True, cwd=base)

    started = False
    try:
        try:
            pg("initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync")
            pg("pg_ctl", "-D", str(data), "-l", str(base / "pg.log"), "-w", "-t", "60", "-o",
               f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off "
               "-c synchronous_commit=off -c full_page_writes=off", "start")
        except subprocess.CalledProcessError as exc:
            log = (base / "pg.log").read_text() if (base / "pg.log").exists() else ""
            raise RuntimeError(f"PostgreSQL did not start: {exc.stderr}\n{log}") from exc
        started = True
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", autocommit=True) as c:
            c.execute("CREATE DATABASE stac")
        dsn = f"postgresql://postgres:x@127.0.0.1:{port}/stac"
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        yield dsn, port
    finally:
        if started:
            pg("pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop", check=False)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def stac_api(s2_demo, cog_server, tmp_path_factory):
    missing = pg_missing()
    if missing:
        skip_or_fail(missing)
    from pypgstac.db import PgstacDB
    from pypgstac.migrate import Migrate

    from aopflow.demo.sentinel2 import write_served_items

    work = tmp_path_factory.mktemp("stacapi")
    with postgres_cluster() as (dsn, pg_port):
        import psycopg

        with PgstacDB(dsn=dsn) as db:
            Migrate(db).run_migration()
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute(
                "INSERT INTO pgstac.pgstac_settings (name, value) VALUES ('context', 'on') "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value"
            )
        coll, nd = write_served_items(s2_demo.items_json, cog_server.url, work / "load")
        _pgstac_load(dsn, coll, nd)
        port = free_port()
        env = dict(os.environ, PGHOST="127.0.0.1", PGPORT=str(pg_port), PGUSER="postgres",
                   PGPASSWORD="x", PGDATABASE="stac")
        for k in ("POSTGRES_USER", "POSTGRES_PASS", "POSTGRES_HOST_READER", "POSTGRES_HOST_WRITER",
                  "POSTGRES_PORT", "POSTGRES_DBNAME"):
            env.pop(k, None)
        url = f"http://127.0.0.1:{port}/"
        logfile = work / "stac.log"
        # cwd without a .env file (stac-fastapi reads one from its working directory).
        proc = start_server(["stac", "--port", str(port)], logfile, url + "_mgmt/health", env=env,
                      cwd=str(work))
        try:
            yield StacApi(url, proc, dsn, logfile)
        finally:
            stop_process(proc)


if __name__ == "__main__":
    main()
