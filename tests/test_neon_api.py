"""aopflow.neon.api against a real loopback HTTP server (tests/neon_server.py).

Every download fault must end in a correct file or a clear DownloadError, with nothing corrupt
under the final name. ``sleep`` is injected (a recorder), so backoff and rate-limit waits cost
no time and their durations can be asserted.
"""

from __future__ import annotations

import logging
import random
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from neon_server import FakeNeonServer, crc32c_hex

from aopflow.errors import ConfigError, DownloadError, InputDataError
from aopflow.neon.api import (
    TOKEN_HEADER,
    NeonClient,
    TileFile,
    check_size,
    crc32c_of_file,
    download_tile,
    fetch_tile,
    list_tiles,
    make_refresh,
    read_tile_listing,
    tiles_in_extent,
    token_from_env,
    write_tile_listing,
)

PRODUCT = "DP3.30006.002"
SITE = "DEMO"
EASTINGS = (450000, 451000, 452000)
NORTHINGS = (3100000, 3101000, 3102000)
ALL_TILES = sorted(f"{e}_{n}" for e in EASTINGS for n in NORTHINGS)
TOKEN = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXRva2VuLXBheWxvYWQ.sig-DO-NOT-LOG-4242"
SIZE = 300_000  # bytes per synthetic tile: several 64 KiB chunks


def tile_name(tile: str) -> str:
    return f"NEON_D00_{SITE}_DP3_{tile}_bidirectional_reflectance.h5"


def payload(tile: str, month: str = "2024-06") -> bytes:
    return random.Random(f"{tile}{month}").randbytes(SIZE)


class Sleeps(list):
    """Records sleep(seconds) calls instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def server():
    with FakeNeonServer(site=SITE, product=PRODUCT) as srv:
        for t in ALL_TILES:
            srv.add_file("2024-06", tile_name(t), payload(t))
        # An older version of two tiles in an earlier month: the later month must win.
        for t in ALL_TILES[:2]:
            srv.add_file("2024-05", tile_name(t), payload(t, "2024-05"))
        # Non-tile files of the listing must be ignored.
        srv.add_file("2024-06", "NEON.D00.DEMO.DP3.30006.002.readme.20250101T000000Z.txt", b"hi")
        srv.add_file("2024-06", f"NEON_D00_{SITE}_DP3_450000_3100000_boundary.kml", b"<kml/>")
        srv.add_file(
            "2025-08",
            tile_name(ALL_TILES[0]),
            payload(ALL_TILES[0], "2025-08"),
            release="PROVISIONAL",
        )
        srv.add_file(
            "2022-07",
            "NEON_D00_OTHR_DP3_300000_4000000_bidirectional_reflectance.h5",
            b"x" * 10,
            site="OTHR",
        )
        yield srv


@pytest.fixture
def sleeps():
    return Sleeps()


@pytest.fixture
def client(server, sleeps):
    with NeonClient(api_url=server.url, timeout=(2, 2), sleep=sleeps, backoff=1.0) as c:
        yield c


def _one(client, tile="451000_3101000") -> TileFile:
    (tf,) = list_tiles(client, product=PRODUCT, site=SITE, year=2024, tiles=[tile])
    return tf


def assert_clean(dest: Path) -> None:
    """Nothing under the final name and no part file left behind."""
    assert not dest.exists()
    assert not dest.with_name(dest.name + ".part").exists()


# ----------------------------------------------------------------------------- listing
def test_list_all_latest_month_query_stripped(client, server):
    tiles = list_tiles(client, product=PRODUCT, site=SITE, year=2024, tiles="all")
    assert [t.tile for t in tiles] == ALL_TILES
    by_tile = {t.tile: t for t in tiles}
    assert {t.month for t in tiles} == {"2024-06"}  # 2024-05 duplicates superseded
    t = by_tile["450000_3100000"]
    assert t.name == tile_name("450000_3100000")
    assert "?" not in t.name and "X-Goog-Signature=" in t.url
    assert t.size == SIZE and t.crc32c == crc32c_hex(payload(t.tile))
    assert t.release == "RELEASE-2026"
    assert (t.easting, t.northing) == (450000, 3100000)


def test_list_explicit_tiles(client):
    tiles = list_tiles(
        client, product=PRODUCT, site=SITE, year="2024", tiles=["452000_3102000", "450000_3101000"]
    )
    assert [t.tile for t in tiles] == ["450000_3101000", "452000_3102000"]


def test_list_bbox_touches_and_clips_to_site(client):
    tiles = list_tiles(
        client,
        product=PRODUCT,
        site=SITE,
        year=2024,
        tiles={"bbox": [450500, 3100500, 451200, 3100700]},
    )
    assert [t.tile for t in tiles] == ["450000_3100000", "451000_3100000"]
    # A box running past the site edge keeps only the tiles that exist.
    tiles = list_tiles(
        client,
        product=PRODUCT,
        site=SITE,
        year=2024,
        tiles={"bbox": [440000, 3090000, 450100, 3100100]},
    )
    assert [t.tile for t in tiles] == ["450000_3100000"]


def test_around_plots_covers_interior_tiles(client):
    # Buffer 1200 m around the centre of the middle tile: the extent 450300-452700 touches all
    # nine tiles. Testing only the 4 buffer corners (the reference client) finds 4 corner tiles
    # and misses the plot's own tile 451000_3101000.
    sel = {"around_plots": {"points": [(451500.0, 3101500.0)], "buffer_m": 1200}}
    tiles = list_tiles(client, product=PRODUCT, site=SITE, year=2024, tiles=sel)
    assert [t.tile for t in tiles] == ALL_TILES
    sel = {"around_plots": {"points": [[451500, 3101500], [450990, 3100010]], "buffer_m": 20}}
    tiles = list_tiles(client, product=PRODUCT, site=SITE, year=2024, tiles=sel)
    assert [t.tile for t in tiles] == ["450000_3100000", "451000_3100000", "451000_3101000"]
    # A huge buffer is handled without enumerating the tiles of the whole box.
    sel = {"around_plots": {"points": [(451500.0, 3101500.0)], "buffer_m": 1e9}}
    assert len(list_tiles(client, product=PRODUCT, site=SITE, year=2024, tiles=sel)) == 9


def test_tiles_in_extent_hand_computed():
    assert tiles_in_extent(450500, 3100500, 452000, 3100600) == [
        "450000_3100000",
        "451000_3100000",
        "452000_3100000",
    ]
    assert tiles_in_extent(999.0, 1000.0, 999.0, 1000.0) == ["000000_0001000"]
    assert len(tiles_in_extent(0, 0, 4999, 2999)) == 5 * 3


def test_provisional_only_year(client):
    with pytest.raises(ConfigError, match="neon.include_provisional"):
        list_tiles(client, product=PRODUCT, site=SITE, year=2025)
    tiles = list_tiles(client, product=PRODUCT, site=SITE, year=2025, include_provisional=True)
    assert [(t.tile, t.release, t.month) for t in tiles] == [
        (ALL_TILES[0], "PROVISIONAL", "2025-08")
    ]


@pytest.mark.parametrize("status", [404, 200])
def test_unknown_product(status, sleeps):
    # The server serves DP3.30006.002 only; .001 is a valid code it does not know.
    with FakeNeonServer(product=PRODUCT, unknown_product_status=status) as srv:
        srv.add_file("2024-06", tile_name(ALL_TILES[0]), b"abc")
        c = NeonClient(api_url=srv.url, sleep=sleeps)
        with pytest.raises(ConfigError, match=r"neon\.product") as ei:
            list_tiles(c, product="DP3.30006.001", site=SITE, year=2024)
    assert "DP3.30006.001" in str(ei.value) and "No data product found" in str(ei.value)
    assert sleeps == []  # not retried


def test_unsupported_product_rejected_before_any_request(client, server):
    with pytest.raises(ConfigError, match=r"neon\.product.*DP3\.30015\.001"):
        list_tiles(client, product="DP1.10003.001", site=SITE, year=2024)
    assert server.requests == []


def test_unknown_site_lists_valid_sites(client):
    with pytest.raises(ConfigError, match="site") as ei:
        list_tiles(client, product=PRODUCT, site="XXXX", year=2024)
    assert "'XXXX'" in str(ei.value) and "DEMO, OTHR" in str(ei.value)


def test_year_without_data_lists_years(client):
    with pytest.raises(ConfigError, match="year") as ei:
        list_tiles(client, product=PRODUCT, site=SITE, year=2019)
    assert "2019" in str(ei.value) and "2024, 2025" in str(ei.value)


def test_tiles_outside_site(client):
    with pytest.raises(ConfigError, match=r"neon\.tiles") as ei:
        list_tiles(
            client,
            product=PRODUCT,
            site=SITE,
            year=2024,
            tiles=["450000_3100000", "999000_9999000"],
        )
    msg = str(ei.value)
    assert "999000_9999000" in msg and "eastings 450000-452000" in msg
    assert "northings 3100000-3102000" in msg
    with pytest.raises(ConfigError, match=r"neon\.tiles\.around_plots.*points"):
        list_tiles(
            client,
            product=PRODUCT,
            site=SITE,
            year=2024,
            tiles={"around_plots": {"points": [(460500, 3100500)], "buffer_m": 5000}},
        )
    with pytest.raises(ConfigError, match=r"neon\.tiles\.bbox.*touches no tile"):
        list_tiles(client, product=PRODUCT, site=SITE, year=2024, tiles={"bbox": [0, 0, 10, 10]})


@pytest.mark.parametrize(
    "spec, match",
    [
        (["450000-3100000"], "not tile ids"),
        ({"box": [0, 0, 1, 1]}, "keys"),
        ({"bbox": [1, 2, 3]}, "4 numbers"),
        ({"bbox": [5, 0, 1, 1]}, "xmin > xmax"),
        ({"around_plots": {"points": [], "buffer_m": 5}}, "non-empty"),
        ({"around_plots": {"points": [(1, 2)], "buffer_m": -1}}, ">= 0"),
        (42, "must be"),
    ],
)
def test_bad_tile_selection(client, server, spec, match):
    with pytest.raises(ConfigError, match=match):
        list_tiles(client, product=PRODUCT, site=SITE, year=2024, tiles=spec)
    assert server.requests == []  # validated before touching the API


def test_listing_csv_round_trip(tmp_path, client):
    tiles = list_tiles(client, product=PRODUCT, site=SITE, year=2024)
    tiles[0] = TileFile(**{**tiles[0].__dict__, "crc32c": None})
    path = write_tile_listing(tiles, tmp_path / "sub" / "tiles.csv")
    assert path.read_text().splitlines()[0] == "tile,name,size,crc32c,url,month,release"
    assert read_tile_listing(path) == tiles
    assert sorted(p.name for p in path.parent.iterdir()) == ["tiles.csv"]  # no temp file left
    (tmp_path / "bad.csv").write_text("tile,name\n450000_3100000,x\n")
    with pytest.raises(InputDataError, match="lacks columns"):
        read_tile_listing(tmp_path / "bad.csv")
    lines = path.read_text().splitlines()
    (tmp_path / "bad2.csv").write_text(lines[0] + "\n" + lines[1].replace(str(SIZE), "big") + "\n")
    with pytest.raises(InputDataError, match="line 2"):
        read_tile_listing(tmp_path / "bad2.csv")


def test_check_size():
    tiles = [
        TileFile(f"45{i}000_3100000", f"f{i}.h5", "u", 700_000_000, None, "2024-06", "R")
        for i in range(3)
    ]
    assert check_size(tiles, 2.1) == 2_100_000_000
    with pytest.raises(ConfigError) as ei:
        check_size(tiles, 2)
    msg = str(ei.value)
    assert "2.10 GB" in msg and "3 files" in msg and "neon.max_download_gb" in msg
    assert "at least 2.1" in msg
    with pytest.raises(ConfigError, match="positive"):
        check_size(tiles, 0)


# ----------------------------------------------------------------------------- token
@pytest.mark.parametrize("value", ["", "   ", "\t\n"])
def test_empty_token_is_a_clear_error(value):
    with pytest.raises(ConfigError, match="NEON_API_TOKEN") as ei:
        token_from_env({"NEON_API_TOKEN": value})
    assert "unset" in str(ei.value)
    with pytest.raises(ConfigError, match="NEON_API_TOKEN"):
        NeonClient(token=value)


def test_token_from_env_unset_and_set():
    assert token_from_env({}) is None
    assert token_from_env({"NEON_API_TOKEN": f" {TOKEN}\n"}) == TOKEN
    assert NeonClient.from_env(environ={"NEON_API_TOKEN": TOKEN}).has_token


def test_token_header_absent_when_unset(client, server, tmp_path):
    tf = _one(client)
    download_tile(client, tf, tmp_path / tf.name)
    assert server.requests
    assert all(TOKEN_HEADER.lower() not in r.headers for r in server.requests)


def test_token_sent_and_never_logged(tmp_path, sleeps, caplog):
    caplog.set_level(logging.DEBUG)  # including urllib3's connection logs
    with FakeNeonServer(site=SITE, product=PRODUCT, require_token=TOKEN) as srv:
        for t in ALL_TILES[:2]:
            srv.add_file("2024-06", tile_name(t), payload(t))
        client = NeonClient(api_url=srv.url, token=TOKEN, sleep=sleeps)
        tiles = list_tiles(client, product=PRODUCT, site=SITE, year=2024)
        srv.add_fault(tiles[0].name, "drop", after_bytes=150_000)
        fetch_tile(
            client,
            tiles[0],
            tmp_path,
            product=PRODUCT,
            site=SITE,
            progress_interval=0.0,
            chunk_size=65536,
        )
        srv.add_fault(tiles[1].name, "status", times=None)
        with pytest.raises(DownloadError) as ei:
            download_tile(client, tiles[1], tmp_path / tiles[1].name)
        listing = write_tile_listing(tiles, tmp_path / "tiles.csv")
    assert all(r.headers.get(TOKEN_HEADER.lower()) == TOKEN for r in srv.requests)
    assert crc32c_of_file(tmp_path / tiles[0].name) == tiles[0].crc32c
    assert "MB/s" in caplog.text and "retrying" in caplog.text  # logging did happen
    for text in (caplog.text, str(ei.value), repr(client), listing.read_text()):
        assert TOKEN not in text
        assert "c2VjcmV0LXRva2VuLXBheWxvYWQ" not in text


def test_token_not_sent_to_other_hosts(sleeps, tmp_path):
    with FakeNeonServer(product=PRODUCT) as api, FakeNeonServer(product=PRODUCT) as storage:
        storage.add_file("2024-06", tile_name(ALL_TILES[0]), payload(ALL_TILES[0]))
        signed = storage._month_json(SITE, "2024-06")["data"]["files"][0]["url"]
        client = NeonClient(api_url=api.url, token=TOKEN, sleep=sleeps)
        # Directly to another host, and through a redirect from the API host.
        assert client.request(signed).status_code == 200
        redirect = api.root_url + "redirect?" + requests.compat.urlencode({"to": signed})
        resp = client.request(redirect)
        assert resp.status_code == 200 and resp.history[0].status_code == 302
    assert api.requests[0].headers.get(TOKEN_HEADER.lower()) == TOKEN
    assert len(storage.requests) == 2
    assert all(TOKEN_HEADER.lower() not in r.headers for r in storage.requests)


# ----------------------------------------------------------------------------- download
def test_download_then_second_run_downloads_nothing(client, server, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    tf = _one(client)
    dest = download_tile(client, tf, tmp_path / tf.name, progress_interval=0.0, chunk_size=65536)
    assert dest.read_bytes() == payload(tf.tile)
    assert "MB/s" in caplog.text and "downloaded" in caplog.text
    before = server.count(tf.name)
    assert download_tile(client, tf, tmp_path / tf.name) == dest
    assert server.count(tf.name) == before == 1
    assert "already present" in caplog.text


def test_existing_corrupt_file_is_replaced(client, server, tmp_path):
    tf = _one(client)
    dest = tmp_path / tf.name
    dest.write_bytes(bytes(SIZE))  # right size, wrong content
    download_tile(client, tf, dest)
    assert dest.read_bytes() == payload(tf.tile)
    assert server.count(tf.name) == 1


def test_crc_mismatch_once_then_success(client, server, tmp_path, sleeps):
    tf = _one(client)
    server.add_fault(tf.name, "crc", times=1)
    dest = download_tile(client, tf, tmp_path / tf.name)
    assert crc32c_of_file(dest) == tf.crc32c
    assert server.count(tf.name) == 2
    assert sleeps == [1.0]


def test_crc_mismatch_persistent_fails_cleanly(client, server, tmp_path, sleeps):
    tf = _one(client)
    server.add_fault(tf.name, "crc", times=None)
    dest = tmp_path / tf.name
    with pytest.raises(DownloadError) as ei:
        download_tile(client, tf, dest)
    msg = str(ei.value)
    assert tf.tile in msg and "crc32c mismatch" in msg and tf.crc32c in msg
    assert tf.url.split("?")[0] in msg and "Signature" not in msg
    assert server.count(tf.name) == 2  # same wrong digest twice: no pointless retries
    assert_clean(dest)


def test_503_once_then_success(client, server, tmp_path, sleeps):
    tf = _one(client)
    server.add_fault(tf.name, "status", status=503, times=1)
    dest = download_tile(client, tf, tmp_path / tf.name)
    assert dest.read_bytes() == payload(tf.tile)
    assert sleeps == [1.0] and server.count(tf.name) == 2


def test_retries_exhausted(client, server, tmp_path, sleeps):
    tf = _one(client)
    server.add_fault(tf.name, "status", status=502, times=None)
    dest = tmp_path / tf.name
    with pytest.raises(DownloadError) as ei:
        download_tile(client, tf, dest)
    msg = str(ei.value)
    assert tf.tile in msg and "HTTP 502" in msg and tf.url.split("?")[0] in msg
    assert "Signature" not in msg
    assert server.count(tf.name) == client.max_retries + 1
    assert sleeps == [1.0, 2.0, 4.0, 8.0, 16.0]  # exponential backoff
    assert_clean(dest)


def test_dropped_connection_resumes_with_range(client, server, tmp_path, sleeps):
    tf = _one(client)
    server.add_fault(tf.name, "drop", after_bytes=200_000)
    dest = download_tile(client, tf, tmp_path / tf.name, chunk_size=16384)
    assert dest.read_bytes() == payload(tf.tile)
    reqs = server.file_requests(tf.name)
    assert [r.status for r in reqs] == [200, 206]
    assert "range" not in reqs[0].headers
    start = int(reqs[1].headers["range"].removeprefix("bytes=").rstrip("-"))
    assert 0 < start <= 200_000
    assert sleeps == [1.0]


def test_part_from_previous_run_is_resumed(client, server, tmp_path):
    tf = _one(client)
    dest = tmp_path / tf.name
    dest.with_name(dest.name + ".part").write_bytes(payload(tf.tile)[:123_456])
    download_tile(client, tf, dest)
    assert dest.read_bytes() == payload(tf.tile)
    (req,) = server.file_requests(tf.name)
    assert req.headers["range"] == "bytes=123456-" and req.status == 206


def test_server_without_range_restarts_from_zero(client, server, tmp_path):
    tf = _one(client)
    server.add_fault(tf.name, "no_range", times=None)
    dest = tmp_path / tf.name
    # A stale part file of garbage: appending to it would corrupt the result.
    dest.with_name(dest.name + ".part").write_bytes(b"\0" * 100_000)
    download_tile(client, tf, dest)
    assert dest.read_bytes() == payload(tf.tile)
    (req,) = server.file_requests(tf.name)
    assert req.headers["range"] == "bytes=100000-" and req.status == 200


def test_no_range_server_drop_restarts_without_range(client, server, tmp_path):
    tf = _one(client)
    server.add_fault(tf.name, "no_range", times=None)
    server.add_fault(tf.name, "drop", after_bytes=150_000)
    dest = download_tile(client, tf, tmp_path / tf.name, chunk_size=16384)
    assert dest.read_bytes() == payload(tf.tile)
    reqs = server.file_requests(tf.name)
    assert len(reqs) == 2 and all("range" not in r.headers for r in reqs)


def test_expired_url_refreshes_listing(client, server, tmp_path):
    tf = _one(client)
    month_path = f"/api/v0/data/{PRODUCT}/{SITE}/2024-06"
    assert server.counts[month_path] == 1
    server.expire_signatures()
    dest = fetch_tile(client, tf, tmp_path, product=PRODUCT, site=SITE)
    assert dest == tmp_path / tf.name and dest.read_bytes() == payload(tf.tile)
    assert [r.status for r in server.file_requests(tf.name)] == [403, 200]
    assert server.counts[month_path] == 2  # one fresh listing


def test_expire_fault_mid_run(client, server, tmp_path):
    tf = _one(client)
    server.add_fault(tf.name, "expire")
    refresh = make_refresh(client, product=PRODUCT, site=SITE, tile=tf)
    dest = download_tile(client, tf, tmp_path / tf.name, refresh=refresh)
    assert dest.read_bytes() == payload(tf.tile)


def test_expired_url_without_refresh_is_a_clear_error(client, server, tmp_path, sleeps):
    tf = _one(client)
    server.expire_signatures()
    with pytest.raises(DownloadError, match="List the tiles again") as ei:
        download_tile(client, tf, tmp_path / tf.name)
    assert tf.tile in str(ei.value) and "HTTP 403" in str(ei.value)
    assert server.count(tf.name) == 1 and sleeps == []
    assert_clean(tmp_path / tf.name)


def test_404_fails_at_once(client, server, tmp_path, sleeps):
    tf = _one(client)
    server.add_fault(tf.name, "not_found", times=None)
    with pytest.raises(DownloadError, match="404") as ei:
        download_tile(client, tf, tmp_path / tf.name)
    assert tf.tile in str(ei.value) and tf.name in str(ei.value)
    assert server.count(tf.name) == 1 and sleeps == []
    assert_clean(tmp_path / tf.name)


def test_rate_limit_429_on_file(client, server, tmp_path, sleeps):
    tf = _one(client)
    server.add_fault(tf.name, "rate_limit", reset=1)
    dest = download_tile(client, tf, tmp_path / tf.name)
    assert dest.read_bytes() == payload(tf.tile)
    assert sleeps == [1.0]
    assert [r.status for r in server.file_requests(tf.name)] == [429, 200]


def test_rate_limit_on_api(client, server, sleeps):
    server.add_api_fault("rate_limit", reset=7)
    assert len(list_tiles(client, product=PRODUCT, site=SITE, year=2024)) == 9
    assert sleeps == [7.0]
    # remaining < 1 on a successful answer: the next request waits `reset` first.
    server.api_remaining, server.api_reset = 0, 3
    client.get_json(f"products/{PRODUCT}")
    assert sleeps == [7.0]
    client.get_json(f"products/{PRODUCT}")
    assert sleeps == [7.0, 3.0]


def test_api_5xx_and_timeout_retried(server, sleeps):
    client = NeonClient(api_url=server.url, timeout=(2, 0.6), sleep=sleeps)
    server.add_api_fault("status", status=503)
    server.add_api_fault("stall", seconds=2.5)
    assert client.get_json(f"products/{PRODUCT}")["data"]["productCode"] == PRODUCT
    assert sleeps == [1.0, 2.0]


def test_api_gives_up_with_cause(server, sleeps):
    client = NeonClient(api_url=server.url, max_retries=2, sleep=sleeps)
    server.add_api_fault("status", status=500, times=None)
    with pytest.raises(DownloadError, match=r"after 3 attempts; last cause: HTTP 500"):
        client.get_json(f"products/{PRODUCT}")


def test_read_timeout_retried(server, sleeps, tmp_path):
    client = NeonClient(api_url=server.url, timeout=(2, 0.6), sleep=sleeps)
    tf = _one(client)
    server.add_fault(tf.name, "stall", seconds=2.5)
    dest = download_tile(client, tf, tmp_path / tf.name)
    assert dest.read_bytes() == payload(tf.tile)
    assert sleeps == [1.0]


def test_listing_with_null_crc_checks_size(client, server, tmp_path):
    name = tile_name("453000_3100000")
    server.add_file("2024-06", name, b"12345", crc32c=None)
    tf = _one(client, "453000_3100000")
    assert tf.crc32c is None
    assert download_tile(client, tf, tmp_path / name).read_bytes() == b"12345"


def test_server_runs_as_separate_process(tmp_path, sleeps):
    files = tmp_path / "tiles"
    files.mkdir()
    name = "NEON_D00_XXXX_DP3_300000_4000000_reflectance.h5"
    (files / name).write_bytes(b"h5-bytes" * 1000)
    script = Path(__file__).with_name("neon_server.py")
    cmd = [sys.executable, str(script), "--dir", str(files), "--site", "XXXX"]
    cmd += ["--product", "DP3.30006.001", "--port", "0", "--month", "2023-07"]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as proc:
        try:
            url = proc.stdout.readline().strip()
            assert url.startswith("http://127.0.0.1:") and url.endswith("/api/v0/")
            with NeonClient(api_url=url, sleep=sleeps) as client:
                (tf,) = list_tiles(client, product="DP3.30006.001", site="XXXX", year=2023)
                dest = fetch_tile(
                    client, tf, tmp_path / "out", product="DP3.30006.001", site="XXXX"
                )
            assert dest.read_bytes() == (files / name).read_bytes()
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    assert proc.returncode == 0  # SIGTERM is a clean shutdown


@pytest.mark.parametrize("token, match", [(None, "requires an API token"), ("wrong", "refused")])
def test_token_missing_or_refused(token, match, sleeps):
    with FakeNeonServer(product=PRODUCT, require_token=TOKEN) as srv:
        srv.add_file("2024-06", tile_name(ALL_TILES[0]), b"abc")
        client = NeonClient(api_url=srv.url, token=token, sleep=sleeps)
        with pytest.raises(DownloadError, match=match) as ei:
            list_tiles(client, product=PRODUCT, site=SITE, year=2024)
    assert "NEON_API_TOKEN" in str(ei.value) and sleeps == []
