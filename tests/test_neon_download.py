"""aopflow.neon.download: verified, resumable downloads against a loopback server with faults."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from neon_fixtures import PRODUCT, SIZE, SITE, one_tile_file, assert_clean, payload, tile_name

from aopflow.errors import DownloadError
from aopflow.neon.client import NeonClient
from aopflow.neon.download import crc32c_of_file, download_tile, fetch_tile
from aopflow.neon.listing import list_tiles, make_refresh


def test_download_then_second_run_downloads_nothing(client, server, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    tf = one_tile_file(client)
    dest = download_tile(client, tf, tmp_path / tf.name, progress_interval=0.0, chunk_size=65536)
    assert dest.read_bytes() == payload(tf.tile)
    assert "MB/s" in caplog.text and "downloaded" in caplog.text
    before = server.count(tf.name)
    assert download_tile(client, tf, tmp_path / tf.name) == dest
    assert server.count(tf.name) == before == 1
    assert "already present" in caplog.text


def test_existing_corrupt_file_is_replaced(client, server, tmp_path):
    tf = one_tile_file(client)
    dest = tmp_path / tf.name
    dest.write_bytes(bytes(SIZE))  # right size, wrong content
    download_tile(client, tf, dest)
    assert dest.read_bytes() == payload(tf.tile)
    assert server.count(tf.name) == 1


def test_crc_mismatch_once_then_success(client, server, tmp_path, sleeps):
    tf = one_tile_file(client)
    server.add_fault(tf.name, "crc", times=1)
    dest = download_tile(client, tf, tmp_path / tf.name)
    assert crc32c_of_file(dest) == tf.crc32c
    assert server.count(tf.name) == 2
    assert sleeps == [1.0]


def test_crc_mismatch_persistent_fails_cleanly(client, server, tmp_path, sleeps):
    tf = one_tile_file(client)
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
    tf = one_tile_file(client)
    server.add_fault(tf.name, "status", status=503, times=1)
    dest = download_tile(client, tf, tmp_path / tf.name)
    assert dest.read_bytes() == payload(tf.tile)
    assert sleeps == [1.0] and server.count(tf.name) == 2


def test_retries_exhausted(client, server, tmp_path, sleeps):
    tf = one_tile_file(client)
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
    tf = one_tile_file(client)
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
    tf = one_tile_file(client)
    dest = tmp_path / tf.name
    dest.with_name(dest.name + ".part").write_bytes(payload(tf.tile)[:123_456])
    download_tile(client, tf, dest)
    assert dest.read_bytes() == payload(tf.tile)
    (req,) = server.file_requests(tf.name)
    assert req.headers["range"] == "bytes=123456-" and req.status == 206


def test_server_without_range_restarts_from_zero(client, server, tmp_path):
    tf = one_tile_file(client)
    server.add_fault(tf.name, "no_range", times=None)
    dest = tmp_path / tf.name
    # A stale part file of garbage: appending to it would corrupt the result.
    dest.with_name(dest.name + ".part").write_bytes(b"\0" * 100_000)
    download_tile(client, tf, dest)
    assert dest.read_bytes() == payload(tf.tile)
    (req,) = server.file_requests(tf.name)
    assert req.headers["range"] == "bytes=100000-" and req.status == 200


def test_no_range_server_drop_restarts_without_range(client, server, tmp_path):
    tf = one_tile_file(client)
    server.add_fault(tf.name, "no_range", times=None)
    server.add_fault(tf.name, "drop", after_bytes=150_000)
    dest = download_tile(client, tf, tmp_path / tf.name, chunk_size=16384)
    assert dest.read_bytes() == payload(tf.tile)
    reqs = server.file_requests(tf.name)
    assert len(reqs) == 2 and all("range" not in r.headers for r in reqs)


def test_expired_url_refreshes_listing(client, server, tmp_path):
    tf = one_tile_file(client)
    month_path = f"/api/v0/data/{PRODUCT}/{SITE}/2024-06"
    assert server.counts[month_path] == 1
    server.expire_signatures()
    dest = fetch_tile(client, tf, tmp_path, product=PRODUCT, site=SITE)
    assert dest == tmp_path / tf.name and dest.read_bytes() == payload(tf.tile)
    assert [r.status for r in server.file_requests(tf.name)] == [403, 200]
    assert server.counts[month_path] == 2  # one fresh listing


def test_expire_fault_mid_run(client, server, tmp_path):
    tf = one_tile_file(client)
    server.add_fault(tf.name, "expire")
    refresh = make_refresh(client, product=PRODUCT, site=SITE, tile=tf)
    dest = download_tile(client, tf, tmp_path / tf.name, refresh=refresh)
    assert dest.read_bytes() == payload(tf.tile)


def test_expired_url_without_refresh_is_a_clear_error(client, server, tmp_path, sleeps):
    tf = one_tile_file(client)
    server.expire_signatures()
    with pytest.raises(DownloadError, match="List the tiles again") as ei:
        download_tile(client, tf, tmp_path / tf.name)
    assert tf.tile in str(ei.value) and "HTTP 403" in str(ei.value)
    assert server.count(tf.name) == 1 and sleeps == []
    assert_clean(tmp_path / tf.name)


def test_404_fails_at_once(client, server, tmp_path, sleeps):
    tf = one_tile_file(client)
    server.add_fault(tf.name, "not_found", times=None)
    with pytest.raises(DownloadError, match="404") as ei:
        download_tile(client, tf, tmp_path / tf.name)
    assert tf.tile in str(ei.value) and tf.name in str(ei.value)
    assert server.count(tf.name) == 1 and sleeps == []
    assert_clean(tmp_path / tf.name)


def test_rate_limit_429_on_file(client, server, tmp_path, sleeps):
    tf = one_tile_file(client)
    server.add_fault(tf.name, "rate_limit", reset=1)
    dest = download_tile(client, tf, tmp_path / tf.name)
    assert dest.read_bytes() == payload(tf.tile)
    assert sleeps == [1.0]
    assert [r.status for r in server.file_requests(tf.name)] == [429, 200]


def test_read_timeout_retried(server, sleeps, tmp_path):
    client = NeonClient(api_url=server.url, timeout=(2, 0.6), sleep=sleeps)
    tf = one_tile_file(client)
    server.add_fault(tf.name, "stall", seconds=2.5)
    dest = download_tile(client, tf, tmp_path / tf.name)
    assert dest.read_bytes() == payload(tf.tile)
    assert sleeps == [1.0]


def test_listing_with_null_crc_checks_size(client, server, tmp_path):
    name = tile_name("453000_3100000")
    server.add_file("2024-06", name, b"12345", crc32c=None)
    tf = one_tile_file(client, "453000_3100000")
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
