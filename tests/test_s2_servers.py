"""Self-test of the Sentinel-2 test servers (tests/s2_servers.py): real processes on 127.0.0.1."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from s2_servers import GDAL_ENV, http_request, cog_server, s2_demo, stac_api  # noqa: F401  (fixtures)

pytestmark = pytest.mark.timeout(300)


def _get(url: str, headers: dict | None = None):
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.headers, r.read()


def _post(url: str, body: dict):
    return http_request(url, json.dumps(body).encode(), "POST")


def _search(base: str, **body) -> dict:
    status, data = _post(base + "search", dict(body, limit=100))
    assert status == 200
    return json.loads(data)


def _site_bbox(s2_demo):
    from pyproj import Transformer

    x0, y0 = s2_demo.aop.origin
    t = Transformer.from_crs(s2_demo.aop.epsg, 4326, always_xy=True)
    return list(t.transform_bounds(x0, y0, x0 + 3000, y0 + 2000))


def test_cog_server_range_and_byte_log(s2_demo, cog_server):
    item = s2_demo.items[1]
    rel = f"scenes/{item['id']}/red.tif"
    size = (s2_demo.dir / rel).stat().st_size
    cog_server.reset_log()
    status, headers, body = _get(cog_server.url + rel, {"Range": "bytes=100-1099"})
    assert status == 206
    assert headers["Content-Range"] == f"bytes 100-1099/{size}"
    assert body == (s2_demo.dir / rel).read_bytes()[100:1100]
    log = cog_server.log()
    assert log == [{"method": "GET", "path": rel, "status": 206, "range": "bytes=100-1099",
                    "bytes": 1000}]
    # GDAL reads one window over HTTP with a few range requests, far less than the file.
    cog_server.reset_log()
    with rasterio.Env(**GDAL_ENV):
        with rasterio.open(cog_server.url + rel) as src:
            win = src.read(1, window=Window(400, 400, 300, 200))
    with rasterio.open(s2_demo.dir / rel) as src:
        np.testing.assert_array_equal(win, src.read(1, window=Window(400, 400, 300, 200)))
    served = cog_server.bytes_served("scenes/")[rel]
    statuses = {e["status"] for e in cog_server.log()}
    assert 206 in statuses and 200 not in {e["status"] for e in cog_server.log() if e["method"] == "GET"}
    assert 0 < served < 0.6 * size, (served, size)


def test_cog_server_faults(s2_demo, cog_server):
    rel = f"scenes/{s2_demo.items[2]['id']}/nir.tif"
    cog_server.add_fault("404", rel, times=1)
    with pytest.raises(urllib.error.HTTPError) as e:
        _get(cog_server.url + rel)
    assert e.value.code == 404
    e.value.close()
    cog_server.add_fault("drop", rel, times=1, after_bytes=5000)
    with pytest.raises(Exception):
        _get(cog_server.url + rel)  # IncompleteRead / connection reset
    dropped = [e for e in cog_server.log() if e.get("dropped")]
    assert dropped and dropped[-1]["bytes"] == 5000
    status, _, body = _get(cog_server.url + rel)  # both faults consumed
    assert status == 200 and body == (s2_demo.dir / rel).read_bytes()
    cog_server.clear_faults()


def test_stac_api_filters_server_side(s2_demo, stac_api, cog_server):
    bbox = _site_bbox(s2_demo)
    all_ids = {it["id"] for it in s2_demo.items}
    r = _search(stac_api.url, collections=[stac_api.collection], bbox=bbox)
    assert {f["id"] for f in r["features"]} == all_ids
    assert r["numberMatched"] == len(all_ids)
    r = _search(stac_api.url, collections=[stac_api.collection], bbox=bbox,
                datetime="2024-04-01T00:00:00Z/2024-10-31T23:59:59Z",
                query={"eo:cloud_cover": {"lt": 30}})
    got = {f["id"] for f in r["features"]}
    cloudy = {it["id"] for it in s2_demo.items if it["properties"]["eo:cloud_cover"] >= 30}
    pre = {it["id"] for it in s2_demo.items if it["properties"]["datetime"] < "2024"}
    assert cloudy and pre and got == all_ids - cloudy - pre
    # Paging: limit 2 gives a next link (a POST with a token) through the same base URL.
    status, data = _post(stac_api.url + "search", {"collections": [stac_api.collection], "limit": 2})
    nxt = [ln for ln in json.loads(data)["links"] if ln["rel"] == "next"]
    assert nxt and nxt[0]["href"].startswith(stac_api.url)
    # Asset hrefs point at the COG server.
    href = r["features"][0]["assets"]["red"]["href"]
    assert href.startswith(cog_server.url) and _get(href, {"Range": "bytes=0-15"})[0] == 206
    # GET search with a query parameter works too.
    q = json.dumps({"eo:cloud_cover": {"gte": 30}})
    status, _, data = _get(stac_api.url + "search?" + f"collections={stac_api.collection}&query="
                           + urllib.request.quote(q))
    assert {f["id"] for f in json.loads(data)["features"]} == cloudy


def test_flaky_and_noquery_wrappers(s2_demo, stac_api):
    stac_api.set_flaky(2)
    for _ in range(2):
        with pytest.raises(urllib.error.HTTPError) as e:
            _get(stac_api.flaky_url)
        assert e.value.code == 503
        e.value.close()
    status, _, data = _get(stac_api.flaky_url)
    assert status == 200
    links = json.loads(data)["links"]
    assert any(ln["href"].startswith(stac_api.flaky_url) for ln in links)
    assert stac_api.faults()["flaky_served"] == 2
    assert _search(stac_api.flaky_url, collections=[stac_api.collection])["features"]
    # The noquery API ignores `query`: the cloudy scene comes back.
    q = {"eo:cloud_cover": {"lt": 30}}
    before = stac_api.faults()["query_stripped"]
    r = _search(stac_api.noquery_url, collections=[stac_api.collection], query=q)
    assert len(r["features"]) == len(s2_demo.items)
    assert any(f["properties"]["eo:cloud_cover"] >= 30 for f in r["features"])
    assert stac_api.faults()["query_stripped"] == before + 1
    assert len(_search(stac_api.url, collections=[stac_api.collection], query=q)["features"]) < len(
        s2_demo.items)


def test_load_another_collection(s2_demo, stac_api, cog_server):
    from aopflow.demo.sentinel2 import rewrite_hrefs

    items = rewrite_hrefs(s2_demo.items[:2], s2_demo.dir, cog_server.url)
    for a in items[0]["assets"].values():
        a.pop("raster:bands", None)
    stac_api.load(items, "s2-no-raster-bands")
    r = _search(stac_api.url, collections=["s2-no-raster-bands"])
    got = {f["id"]: f for f in r["features"]}
    assert set(got) == {it["id"] for it in items}
    assert "raster:bands" not in got[items[0]["id"]]["assets"]["red"]
    assert "raster:bands" in got[items[1]["id"]]["assets"]["red"]


def test_servers_are_processes_with_pids(cog_server, stac_api):
    for pid in (cog_server.pid, stac_api.pid):
        os.kill(pid, 0)  # alive (raises if not); teardown stops them by this pid
    assert cog_server.pid != stac_api.pid != os.getpid()


def test_cog_server_stopped_by_pid(tmp_path):
    """A server started like the fixture's is gone after stop_process (the fixtures' teardown)."""
    from s2_servers import start_server, stop_process, free_port

    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "a.tif").write_bytes(b"x" * 100)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    proc = start_server(["cog", "--dir", str(tmp_path / "srv"), "--port", str(port)], tmp_path / "log", url + "_log")
    assert _get(url + "a.tif")[0] == 200
    stop_process(proc)
    assert proc.poll() is not None
    with pytest.raises(urllib.error.URLError):
        _get(url + "a.tif")


def test_postgres_cluster_stopped_at_exit():
    from s2_servers import pg_missing, postgres_cluster, skip_or_fail

    if pg_missing():
        skip_or_fail(pg_missing())
    import psycopg

    with postgres_cluster() as (dsn, _port):
        with psycopg.connect(dsn) as c:
            assert c.execute("SELECT extname FROM pg_extension WHERE extname = 'postgis'").fetchone()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(dsn, connect_timeout=2).close()
