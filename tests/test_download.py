"""The workflow-facing NEON steps: listing with the size guard and plot-based selection, one download."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import Point

from aopflow.errors import ConfigError, InputDataError
from aopflow.stages.download import download_listed_tile, neon_listing, plot_points
from aopflow.neon.listing import read_tile_listing

from neon_server import FakeNeonServer

NAMES = [f"NEON_D17_SJER_DP3_{e}_{n}_bidirectional_reflectance.h5"
         for e in (257000, 258000, 259000) for n in (4111000, 4112000)]


@pytest.fixture
def server(monkeypatch):
    monkeypatch.delenv("NEON_API_TOKEN", raising=False)
    with FakeNeonServer(site="SJER", product="DP3.30006.002") as srv:
        for i, name in enumerate(NAMES):
            srv.add_file("2021-04", name, bytes([i]) * (1000 + i))
        yield srv


def test_listing_around_plots_from_a_geographic_file(server, tmp_path):
    # Two plots given in WGS84: they are projected to their UTM zone (11N for SJER).
    utm = gpd.GeoSeries([Point(257500, 4111500), Point(258900, 4112100)], crs="EPSG:32611")
    plots = tmp_path / "plots.geojson"
    gpd.GeoDataFrame({"plotID": ["a", "b"]}, geometry=utm.to_crs("EPSG:4326")).to_file(plots)
    pts, crs = plot_points(plots)
    assert crs.endswith("32611") and pts[0] == pytest.approx((257500, 4111500), abs=0.01)
    out = neon_listing(tmp_path / "tiles.csv", api_url=server.url, product="DP3.30006.002", site="SJER",
                       year=2021, tiles={"around_plots": {"path": str(plots), "buffer_m": 200}},
                       max_download_gb=1)
    tiles = [t.tile for t in read_tile_listing(out)]
    # Plot a is 500 m from every border -> its own tile; plot b is 100 m from two borders -> 4 tiles.
    assert tiles == ["257000_4111000", "258000_4111000", "258000_4112000", "259000_4111000", "259000_4112000"]


def test_size_guard_and_subset(server, tmp_path):
    with pytest.raises(ConfigError, match="neon.max_download_gb"):
        neon_listing(tmp_path / "t.csv", api_url=server.url, product="DP3.30006.002", site="SJER",
                     year=2021, max_download_gb=1e-9)
    assert not (tmp_path / "t.csv").exists()
    out = neon_listing(tmp_path / "t.csv", api_url=server.url, product="DP3.30006.002", site="SJER",
                       year=2021, subset=["258000_4111000"], max_download_gb=1)
    [tile] = read_tile_listing(out)
    assert tile.tile == "258000_4111000" and tile.size == 1002
    with pytest.raises(ConfigError, match="tiles"):
        neon_listing(tmp_path / "u.csv", api_url=server.url, product="DP3.30006.002", site="SJER",
                     year=2021, subset=["999000_4111000"], max_download_gb=1)


def test_download_listed_tile(server, tmp_path):
    out = neon_listing(tmp_path / "t.csv", api_url=server.url, product="DP3.30006.002", site="SJER",
                       year=2021, max_download_gb=1)
    dest = tmp_path / "h5" / NAMES[3]
    got = download_listed_tile(out, "258000_4112000", dest, api_url=server.url, product="DP3.30006.002",
                               site="SJER")
    assert got.read_bytes() == bytes([3]) * 1003
    with pytest.raises(ConfigError, match="expected the listed file name"):
        download_listed_tile(out, "258000_4112000", tmp_path / "h5" / NAMES[0], api_url=server.url,
                             product="DP3.30006.002", site="SJER")


def test_listing_around_plots_from_a_csv(server, tmp_path):
    # The CSV of plots that zonal statistics read works for around_plots too.
    plots = tmp_path / "plots.csv"
    plots.write_text("plotID,easting,northing\na,257500,4111500\nb,258900,4112100\n")
    sel = {"around_plots": {"path": str(plots), "buffer_m": 200, "plots_crs": "EPSG:32611",
                            "x_column": "easting", "y_column": "northing"}}
    out = neon_listing(tmp_path / "tiles.csv", api_url=server.url, product="DP3.30006.002", site="SJER",
                       year=2021, tiles=sel, max_download_gb=1)
    assert [t.tile for t in read_tile_listing(out)] == [
        "257000_4111000", "258000_4111000", "258000_4112000", "259000_4111000", "259000_4112000"]
    # Without its CRS the CSV is refused with the around_plots key to set.
    del sel["around_plots"]["plots_crs"]
    with pytest.raises(InputDataError, match=r"neon\.tiles\.around_plots\.plots_crs"):
        neon_listing(tmp_path / "u.csv", api_url=server.url, product="DP3.30006.002", site="SJER",
                     year=2021, tiles=sel, max_download_gb=1)
