"""Shared pieces of the aopflow.neon tests: a fake NEON server with a 3 x 3 site, a client
whose sleeps are recorded, and helpers (imported by tests/test_neon_*.py).

Every download fault must end in a correct file or a clear DownloadError, with nothing corrupt
under the final name. ``sleep`` is injected (a recorder), so backoff and rate-limit waits cost
no time and their durations can be asserted.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from neon_server import FakeNeonServer

from aopflow.neon.client import NeonClient
from aopflow.neon.listing import TileFile, list_tiles

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


def one_tile_file(client, tile="451000_3101000") -> TileFile:
    (tf,) = list_tiles(client, product=PRODUCT, site=SITE, year=2024, tiles=[tile])
    return tf


def assert_clean(dest: Path) -> None:
    """Nothing under the final name and no part file left behind."""
    assert not dest.exists()
    assert not dest.with_name(dest.name + ".part").exists()
