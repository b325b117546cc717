"""aopflow.neon.listing (and the selection it applies) against a real loopback HTTP server
(tests/neon_server.py)."""

from __future__ import annotations

import pytest
from neon_server import FakeNeonServer, crc32c_hex

from neon_fixtures import ALL_TILES, PRODUCT, SIZE, SITE, payload, tile_name

from aopflow.errors import ConfigError, InputDataError
from aopflow.neon.client import NeonClient
from aopflow.neon.listing import (
    TileFile,
    check_size,
    list_tiles,
    read_tile_listing,
    write_tile_listing,
)


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
