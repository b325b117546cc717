"""aopflow.neon.client: token handling, rate limits and API retries against a loopback server."""

from __future__ import annotations

import logging

import pytest
import requests
from neon_server import FakeNeonServer

from neon_fixtures import ALL_TILES, PRODUCT, SITE, TOKEN, one_tile_file, payload, tile_name

from aopflow.errors import ConfigError, DownloadError
from aopflow.neon.client import TOKEN_HEADER, NeonClient, token_from_env
from aopflow.neon.download import crc32c_of_file, download_tile, fetch_tile
from aopflow.neon.listing import list_tiles, write_tile_listing


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
    tf = one_tile_file(client)
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


@pytest.mark.parametrize("token, match", [(None, "requires an API token"), ("wrong", "refused")])
def test_token_missing_or_refused(token, match, sleeps):
    with FakeNeonServer(product=PRODUCT, require_token=TOKEN) as srv:
        srv.add_file("2024-06", tile_name(ALL_TILES[0]), b"abc")
        client = NeonClient(api_url=srv.url, token=token, sleep=sleeps)
        with pytest.raises(DownloadError, match=match) as ei:
            list_tiles(client, product=PRODUCT, site=SITE, year=2024)
    assert "NEON_API_TOKEN" in str(ei.value) and sleeps == []
