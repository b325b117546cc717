"""Unit tests of aopflow.sentinel2 (grid, scaling, search filters, per-date loading) on small
COGs written in the test, and of the stage functions on the generated demo scenes."""

from __future__ import annotations

import csv
import json
import socket
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from pyproj import Transformer

from aopflow.errors import ConfigError, DownloadError, InputDataError
from aopflow.raster import write_cog
from aopflow.sentinel2 import dates as s2dates
from aopflow.sentinel2 import search as s2s
from aopflow.sentinel2.grid import SiteGrid, check_resolution, site_grid, snap_out
from aopflow.ndvi import normalized_difference
from aopflow.sentinel2.load import load_date
from aopflow.sentinel2.scaling import asset_scaling, baseline_offset, item_scalings, parse_baseline, to_reflectance

SITE_EPSG = 32611
SITE = (500000.0, 4100000.0, 501600.0, 4101600.0)  # 1.6 x 1.6 km, corner on the 1 km grid
MASK = [0, 1, 3, 8, 9, 10]


# ---- small scenes written here ----------------------------------------------------------------

def _write_cog(path: Path, arr: np.ndarray, epsg: int, transform: Affine, dtype: str) -> None:
    write_cog(path, arr.astype(dtype), crs=epsg, transform=transform, nodata=0, overview_resampling="nearest")


def make_item(root: Path, iid: str, epsg: int, left: float, top: float, dn: dict, scl: np.ndarray, *,
              baseline: str = "05.09", when: str = "2024-06-01T18:30:00Z", raster_bands: bool = True,
              cloud: float = 5.0, offset: float | None = None) -> dict:
    """An Earth-Search-like item with COG assets ``dn`` (10 m uint16) and ``scl`` (20 m uint8)
    whose upper-left corner is (left, top) in EPSG:``epsg``."""
    rows, cols = next(iter(dn.values())).shape
    off = (-0.1 if parse_baseline(baseline) >= (4, 0) else 0.0) if offset is None else offset
    assets = {}
    for b, a in dn.items():
        tr = Affine(10, 0, left, 0, -10, top)
        p = root / iid / f"{b}.tif"
        _write_cog(p, a, epsg, tr, "uint16")
        assets[b] = {"href": str(p), "type": "image/tiff; application=geotiff; profile=cloud-optimized", "gsd": 10,
                     "proj:shape": [rows, cols], "proj:transform": list(tr)[:6], "roles": ["data", "reflectance"]}
        if raster_bands:
            assets[b]["raster:bands"] = [{"nodata": 0, "data_type": "uint16", "spatial_resolution": 10,
                                          "scale": 0.0001, "offset": off}]
    tr = Affine(20, 0, left, 0, -20, top)
    p = root / iid / "scl.tif"
    _write_cog(p, scl, epsg, tr, "uint8")
    assets["scl"] = {"href": str(p), "type": "image/tiff", "proj:shape": list(scl.shape),
                     "proj:transform": list(tr)[:6], "roles": ["data"],
                     "raster:bands": [{"nodata": 0, "data_type": "uint8", "spatial_resolution": 20}]}
    t = Transformer.from_crs(f"EPSG:{epsg}", "EPSG:4326", always_xy=True)
    b4 = t.transform_bounds(left, top - rows * 10, left + cols * 10, top, densify_pts=21)
    ring = [[b4[0], b4[1]], [b4[2], b4[1]], [b4[2], b4[3]], [b4[0], b4[3]], [b4[0], b4[1]]]
    return {"type": "Feature", "stac_version": "1.0.0",
            "stac_extensions": ["https://stac-extensions.github.io/projection/v1.1.0/schema.json",
                                "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
                                "https://stac-extensions.github.io/eo/v1.1.0/schema.json"],
            "id": iid, "collection": "sentinel-2-l2a", "geometry": {"type": "Polygon", "coordinates": [ring]},
            "bbox": list(b4), "links": [],
            "properties": {"datetime": when, "eo:cloud_cover": cloud, "proj:epsg": epsg,
                           "s2:processing_baseline": baseline, "mgrs:utm_zone": epsg % 100,
                           "mgrs:latitude_band": "S", "mgrs:grid_square": "MB"},
            "assets": assets}


def scene_dn(seed: int, shape=(240, 240)):
    rng = np.random.default_rng(seed)
    red = rng.integers(1100, 3000, shape).astype(np.uint16)
    nir = rng.integers(3000, 6000, shape).astype(np.uint16)
    return {"red": red, "nir": nir}


@pytest.fixture
def grid() -> SiteGrid:
    return SiteGrid.from_bounds(SITE_EPSG, SITE, 10)


def write_tiles_csv(path: Path, boxes, epsg=SITE_EPSG) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["tile", "file", "epsg", "left", "bottom", "right", "top"])
        for b in boxes:
            w.writerow([f"{int(b[0])}_{int(b[1])}", "x.h5", epsg, *b])
    return path


# ---- grid --------------------------------------------------------------------------------------

def test_grid_from_tiles_is_on_the_1km_lattice(tmp_path):
    # Two 600 m tiles (30 px at 20 m) in 1 km cells: the grid spans their cells' union.
    tiles = write_tiles_csv(tmp_path / "tiles.csv", [(500000, 4100000, 500600, 4100600),
                                                      (501000, 4101000, 501600, 4101600)])
    g = site_grid(tiles, 20, aop_pixel_size=20)
    assert g.bounds == (500000, 4100000, 502000, 4102000) and g.shape == (100, 100) and g.crs == "EPSG:32611"
    assert g.transform == Affine(20, 0, 500000, 0, -20, 4102000)
    # Every 1 km tile edge is a grid line, and one S2 pixel is a whole block of AOP pixels.
    for edge in (500000, 501000, 502000):
        assert ((edge - g.bounds[0]) / g.resolution).is_integer()
    gb = g.geobox()
    assert gb.shape == (100, 100) and gb.crs.epsg == 32611
    assert SiteGrid.from_dict(g.to_dict()) == g


def test_grid_snaps_areas_outwards(tmp_path):
    tiles = write_tiles_csv(tmp_path / "tiles.csv", [(500000, 4100000, 501000, 4101000)])
    g = site_grid(tiles, 10, area=[500123.4, 4100007, 500456.1, 4100333.3])
    assert g.bounds == (500120, 4100000, 500460, 4100340)
    p = site_grid(tiles, 50, area="plots", plots_bounds=(500210, 4100220, 500260, 4100300), plots_buffer_m=30)
    assert p.bounds == (500150, 4100150, 500300, 4100350)
    assert snap_out((0.0000001, 9.9999999, 20.0, 30.0), 10) == (0, 10, 20, 30)


@pytest.mark.parametrize(("res", "aop", "msg"), [(30, None, "does not divide the 1000 m"),
                                                  (10, 20, "not a whole number of AOP pixels"),
                                                  (25, 10, "not a whole number of AOP pixels")])
def test_grid_resolution_checks(res, aop, msg):
    with pytest.raises(ConfigError, match=msg):
        check_resolution(res, aop)
    check_resolution(20, 10)
    check_resolution(10, 1)


def test_grid_area_far_from_site_is_a_crs_mixup(tmp_path):
    tiles = write_tiles_csv(tmp_path / "tiles.csv", [(500000, 4100000, 501000, 4101000)])
    with pytest.raises(ConfigError, match="sentinel2.area: .* more than 50 km from the site"):
        site_grid(tiles, 10, area=[-117.1, 37.0, -117.0, 37.1])
    with pytest.raises(ConfigError, match="sentinel2.area is 'plots' but no plots"):
        site_grid(tiles, 10, area="plots")


# ---- scaling -----------------------------------------------------------------------------------

def test_scaling_by_baseline_and_raster_bands(tmp_path):
    assert parse_baseline("05.09") == (5, 9) and parse_baseline("N0400") == (4, 0)
    assert baseline_offset("03.01") == 0.0 and baseline_offset("04.00") == -0.1 and baseline_offset("05.10") == -0.1
    item = {"id": "X", "properties": {"s2:processing_baseline": "03.01"},
            "assets": {"red": {"raster:bands": [{"scale": 0.0001, "offset": -0.1, "nodata": 0}]},
                       "nir": {"href": "x"}, "scl": {}}}
    # raster:bands wins (and a disagreement with the baseline is logged, not silently "fixed").
    s = asset_scaling(item, "red")
    assert (s.scale, s.offset, s.source) == (0.0001, -0.1, "raster:bands")
    s = asset_scaling(item, "nir")
    assert (s.scale, s.offset, s.source) == (0.0001, 0.0, "baseline 03.01")
    item["properties"]["s2:processing_baseline"] = "04.00"
    assert asset_scaling(item, "nir").offset == -0.1
    assert asset_scaling(item, "scl").scale == 1.0
    with pytest.raises(InputDataError, match="item X: no asset 'swir16'"):
        item_scalings(item, ["red", "swir16"])
    with pytest.raises(InputDataError, match="NN.NN"):
        parse_baseline("five")


def test_to_reflectance_is_one_float32_rounding():
    dn = np.array([[0, 1, 1000, 1234, 65535]], dtype=np.uint16)
    s = asset_scaling({"id": "A", "properties": {"s2:processing_baseline": "05.00"}, "assets": {"red": {}}}, "red")
    r = to_reflectance(dn, s)
    assert r.dtype == np.float32 and np.isnan(r[0, 0])
    np.testing.assert_array_equal(r[0, 1:], np.float32(dn[0, 1:].astype(np.float64) * 0.0001 - 0.1))


# ---- search filters and dates -----------------------------------------------------------------------

def _feat(iid, when, cloud, lon=-117.0, lat=37.05, **props):
    return {"id": iid, "collection": "sentinel-2-l2a", "bbox": [lon - 0.5, lat - 0.5, lon + 0.5, lat + 0.5],
            "geometry": None, "properties": {"datetime": when, **({"eo:cloud_cover": cloud} if cloud is not None
                                                                  else {}), **props}, "assets": {}}


BBOX = (-117.0, 37.04, -116.98, 37.06)


def test_cloud_recheck_drops_cloudy_and_unknown_items():
    items = [_feat("a", "2024-06-01T18:40:00Z", 10), _feat("b", "2024-06-02T18:40:00Z", 31),
             _feat("c", "2024-06-03T18:40:00Z", None), _feat("d", "2024-06-04T18:40:00Z", 30),
             _feat("e", "2024-11-01T18:40:00Z", 1), _feat("f", "2024-06-05T18:40:00Z", 1, lon=-100)]
    f = s2s.filter_items(items, bbox=BBOX, datetime="2024-04-01/2024-10-31", max_cloud_cover=30)
    assert [i["id"] for i in f.kept] == ["a", "d"]
    assert f.cloudy == ["b", "c"] and f.out_of_range == ["e"] and f.outside == ["f"]


def test_datetime_ranges():
    start, end = s2s.parse_datetime_range("2024-04-01/2024-10-31")
    assert start.isoformat() == "2024-04-01T00:00:00+00:00" and end.isoformat() == "2024-10-31T23:59:59.999999+00:00"
    assert s2s.parse_datetime_range("../2024-01-01")[0] is None
    for bad, msg in [("2024-05-01/2024-04-01", "ends before"), ("2024-13-01/2024-12-01", "is not a date")]:
        with pytest.raises(ConfigError, match=msg):
            s2s.parse_datetime_range(bad)


def test_solar_dates_group_same_day_scenes_of_two_zones():
    lon = -117.0  # local solar time = UTC - 7.8 h
    items = [_feat("z11", "2024-06-15T18:42:31Z", 1, **{"proj:epsg": 32611}),
             _feat("z10", "2024-06-15T18:42:35Z", 1, **{"proj:epsg": 32610}),
             # 03:00 UTC on the 16th is 19:12 solar time on the 15th at the site.
             _feat("late", "2024-06-16T03:00:00Z", 1), _feat("next", "2024-06-16T18:42:00Z", 1)]
    groups = s2s.group_by_date(items, lon)
    assert {d: [i["id"] for i in its] for d, its in groups.items()} == {
        "2024-06-15": ["z11", "z10", "late"], "2024-06-16": ["next"]}


def test_static_search_errors(tmp_path):
    path = tmp_path / "items.json"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        _feat("a", "2024-06-01T18:40:00Z", 80), _feat("b", "2024-06-02T18:40:00Z", 90)]}))
    with pytest.raises(ConfigError, match=r"no item .* with eo:cloud_cover <= 30; without the cloud filter 2 item"):
        s2s.search_static(path, bbox=BBOX, datetime="2024-04-01/2024-10-31", max_cloud_cover=30, max_items=10)
    with pytest.raises(ConfigError, match="sentinel2.area: the area .* lies outside every item's footprint"):
        s2s.search_static(path, bbox=(10, 10, 10.1, 10.1), datetime="2024-04-01/2024-10-31", max_cloud_cover=100,
                          max_items=10)
    with pytest.raises(ConfigError, match="sentinel2.max_items: 2 items match"):
        s2s.search_static(path, bbox=BBOX, datetime="2024-04-01/2024-10-31", max_cloud_cover=100, max_items=1)
    assert len(s2s.search_static(path, bbox=BBOX, datetime="2024-04-01/2024-10-31", max_cloud_cover=100,
                                 max_items=2)) == 2


def test_unreachable_api_names_the_key():
    with socket.socket() as s:  # a free port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match=f"sentinel2.api_url: the STAC API at http://127.0.0.1:{port}/ could not"):
        s2s.search_api(f"http://127.0.0.1:{port}/", "sentinel-2-l2a", bbox=BBOX, datetime="2024-06-01/2024-06-30",
                       max_cloud_cover=30, max_items=10, retries=1, backoff=0.01, timeout=2)


# ---- loading onto the grid ------------------------------------------------------------------------

def test_load_on_grid_is_exact_and_masks_scl(tmp_path, grid):
    dn = scene_dn(1, (280, 280))
    dn["red"][50, 150] = 0  # nodata in one band only
    scl = np.full((140, 140), 4, np.uint8)
    scl[60:70, 60:70] = 9  # cloud
    scl[80:90, 80:90] = 3  # shadow
    scl[20:25, 90:95] = 2  # dark area: not masked by default
    # The scene's corner at (499000, 4102000): the site is rows 40..200, cols 100..260 of the 10 m grid.
    it = make_item(tmp_path, "A", SITE_EPSG, 499000, 4102000, dn, scl)
    prod = load_date([it], grid, ["red", "nir"], MASK, threads=2)
    win = (slice(40, 200), slice(100, 260))
    scl10 = np.repeat(np.repeat(scl, 2, 0), 2, 1)[win]
    for b in ("red", "nir"):
        expected = np.float32(dn[b][win].astype(np.float64) * 0.0001 - 0.1)
        expected[np.isin(scl10, MASK) | (dn["red"][win] == 0)] = np.nan
        np.testing.assert_array_equal(prod.band(b), expected)
    assert np.isnan(prod.band("nir")[50 - 40, 150 - 100])  # any band's nodata masks every band
    assert prod.valid.sum() == 160 * 160 - 2 * 20 * 20 - 1  # a cloud, a shadow, one nodata pixel
    assert np.isfinite(prod.band("red")[(20 * 2 - 40) + 2, (90 * 2 - 100) + 2])  # SCL 2 kept
    # A mask_classes edit changes the mask (here: dark area too).
    prod2 = load_date([it], grid, ["red", "nir"], [*MASK, 2], threads=1)
    assert np.isnan(prod2.band("red")[(20 * 2 - 40) + 2, (90 * 2 - 100) + 2])


def test_ndvi_right_before_and_after_baseline_0400(tmp_path, grid):
    rng = np.random.default_rng(3)
    red_r = rng.uniform(0.02, 0.1, (280, 280))
    nir_r = rng.uniform(0.3, 0.5, (280, 280))
    scl = np.full((140, 140), 4, np.uint8)
    truth = (nir_r - red_r) / (nir_r + red_r)
    win = (slice(40, 200), slice(100, 260))
    for baseline, off in [("03.01", 0.0), ("05.09", -0.1)]:
        dn = {"red": np.round((red_r - off) / 1e-4).astype(np.uint16),
              "nir": np.round((nir_r - off) / 1e-4).astype(np.uint16)}
        for rb in (True, False):  # from raster:bands, and from the baseline alone
            it = make_item(tmp_path / f"{baseline}{rb}", f"I{baseline}", SITE_EPSG, 499000, 4102000, dn, scl,
                           baseline=baseline, raster_bands=rb)
            prod = load_date([it], grid, ["red", "nir"], MASK)
            nd = normalized_difference(prod.band("nir"), prod.band("red"))
            # DN rounding: |error| < 1e-3 in NDVI; an offset applied twice or not at all is off by > 0.05.
            assert np.nanmax(np.abs(nd - truth[win])) < 1e-3, (baseline, rb)


def test_two_zones_merge_on_grid_scene_first(tmp_path, grid):
    # Site zone scene with no data over the east half of the site; a zone-10 scene covering it all.
    dn = scene_dn(5)
    dn["red"][:, 180:] = 0
    dn["nir"][:, 180:] = 0
    scl = np.full((120, 120), 4, np.uint8)
    scl[:, 90:] = 0
    a = make_item(tmp_path, "Z11", SITE_EPSG, 499000, 4102000, dn, scl, when="2024-06-15T18:42:31Z")
    t = Transformer.from_crs(SITE_EPSG, 32610, always_xy=True)
    x0, y0, x1, y1 = t.transform_bounds(*SITE)
    left, top = np.floor(x0 / 20) * 20 - 400, np.ceil(y1 / 20) * 20 + 400
    dn10 = scene_dn(6, (280, 280))
    b = make_item(tmp_path, "Z10", 32610, left, top, dn10, np.full((140, 140), 4, np.uint8),
                  when="2024-06-15T18:42:35Z")
    prod = load_date([b, a], grid, ["red", "nir"], MASK)  # order given does not matter
    assert prod.items == ["Z11", "Z10"]
    assert prod.valid.all()
    win = (slice(40, 200), slice(100, 180))  # the site columns the zone-11 scene covers
    np.testing.assert_array_equal(prod.band("red")[:, :80], np.float32(dn["red"][win] * 1e-4 - 0.1))
    # East of the swath edge: the zone-10 scene's values, nearest-resampled.
    east = prod.band("red")[:, 80:]
    assert np.isfinite(east).all()
    # Each reprojected pixel is the zone-10 pixel containing the site pixel's centre, except where
    # that centre lies within 1e-3 pixel of a zone-10 pixel edge.
    rows, cols = np.mgrid[0:160, 80:160]
    xs = grid.bounds[0] + (cols + 0.5) * 10
    ys = grid.bounds[3] - (rows + 0.5) * 10
    xz, yz = t.transform(xs, ys)
    ci, ri = (xz - left) / 10, (top - yz) / 10
    expected = np.float32(dn10["red"][ri.astype(int), ci.astype(int)] * 1e-4 - 0.1)
    interior = (np.abs(ci - np.round(ci)) > 1e-3) & (np.abs(ri - np.round(ri)) > 1e-3)
    assert np.mean(east[interior] == expected[interior]) > 0.99


def test_missing_and_unreadable_assets_name_item_and_key(tmp_path, grid):
    dn = scene_dn(2)
    scl = np.full((120, 120), 4, np.uint8)
    it = make_item(tmp_path, "S2X_TEST", SITE_EPSG, 499000, 4102000, dn, scl)
    with pytest.raises(InputDataError, match=r"item S2X_TEST: no asset 'blue'"):
        load_date([it], grid, ["red", "blue"], MASK)
    Path(it["assets"]["nir"]["href"]).unlink()
    with pytest.raises(DownloadError, match=r"item S2X_TEST, asset 'nir': the COG .*nir.tif cannot be read"):
        load_date([it], grid, ["red", "nir"], MASK, retries=0)


# ---- stage: summary and figures ----------------------------------------------------------------

def test_summary_flags_dates_below_min_valid_fraction_and_figures(tmp_path, grid):
    from aopflow.sentinel2.load import write_cog
    from aopflow.stages.sentinel2 import ndvi_figure, summarise, valid_fraction_figure

    rows = [{"date": d, "item_ids": f"I{d}", "mgrs_tiles": "11SMB", "epsgs": "32611", "cloud_cover": 1,
             "processing_baselines": "05.10", "scale_offset": "red:0.0001/-0.1;nir:0.0001/-0.1"}
            for d in ("2024-05-01", "2024-06-01")]
    s2dates.write_dates_csv(rows, tmp_path / "dates.csv")
    ndvis, sums = [], []
    for d, frac in (("2024-05-01", 0.5), ("2024-06-01", 0.1)):
        arr = np.full(grid.shape, 0.6, np.float32)
        arr.ravel()[int(frac * arr.size):] = np.nan
        write_cog(tmp_path / d / "ndvi.tif", arr, grid, ["ndvi"])
        s2dates.write_dates_csv([{"date": d, "valid_fraction": frac, "n_valid": int(frac * arr.size),
                                  "n_area_pixels": arr.size, "negative_share": 0.01, "scaling_flag": "false",
                                  "scaling_note": "", "scale_offset_applied": "I:red:0.0001/-0.1"}],
                                tmp_path / d / "summary.csv", s2dates.SUMMARY_COLUMNS)
        ndvis.append(tmp_path / d / "ndvi.tif")
        sums.append(tmp_path / d / "summary.csv")
    summarise(tmp_path / "dates.csv", sums, tmp_path / "date_summary.csv", min_valid_fraction=0.2)
    out = s2dates.read_dates_csv(tmp_path / "date_summary.csv")
    assert [(r["date"], r["used"]) for r in out] == [("2024-05-01", "true"), ("2024-06-01", "false")]
    assert list(out[0])[:7] == s2dates.DATES_COLUMNS and float(out[1]["valid_fraction"]) == 0.1
    with rasterio.open(ndvis[0]) as src:  # a COG on the grid
        assert src.crs.to_epsg() == 32611 and src.transform == grid.transform and src.descriptions == ("ndvi",)
        assert src.overviews(1) or max(src.shape) <= 512
    for png in (ndvi_figure(tmp_path / "date_summary.csv", ndvis, tmp_path / "n.png"),
                valid_fraction_figure(tmp_path / "date_summary.csv", tmp_path / "v.png", min_valid_fraction=0.2)):
        assert png.stat().st_size > 5000
    with pytest.raises(InputDataError, match="date 2024-06-01 has no per-date summary"):
        summarise(tmp_path / "dates.csv", sums[:1], tmp_path / "x.csv", min_valid_fraction=0.2)
    assert out[0]["scaling_flag"] == "false" and out[0]["scale_offset_applied"] == "I:red:0.0001/-0.1"
    (tmp_path / "old.csv").write_text("date,valid_fraction,n_valid,n_area_pixels\n2024-05-01,0.5,1,2\n")
    with pytest.raises(InputDataError, match=r"old.csv: columns \['negative_share', .* made by an older aopflow"):
        summarise(tmp_path / "dates.csv", [tmp_path / "old.csv", sums[1]], tmp_path / "x.csv", min_valid_fraction=0.2)


def test_stage_config_checks():
    from aopflow.stages.sentinel2 import check_config

    base = {"resolution": 10, "bands": ["red", "nir"], "datetime": "2024-04-01/2024-10-31"}
    check_config(base, 1.0)
    for bad, msg in [({"bands": ["red", "green"]}, r"sentinel2.bands: .* lacks \['nir'\]; NDVI needs"),
                     ({"bands": ["red", "nir", "scl"]}, "'scl' is the cloud mask"),
                     ({"resolution": 15}, "sentinel2.resolution: 15 m does not divide"),
                     ({"datetime": "2024-10-31/2024-04-01"}, "sentinel2.datetime: .* ends before it starts")]:
        with pytest.raises(ConfigError, match=msg):
            check_config({**base, **bad}, 1.0)


def test_make_grid_area_plots(tmp_path):
    import geopandas as gpd
    from shapely.geometry import Point

    from aopflow.stages.sentinel2 import make_grid

    tiles = write_tiles_csv(tmp_path / "tiles.csv", [(500000, 4100000, 501000, 4101000),
                                                      (501000, 4100000, 502000, 4101000)])
    plots = gpd.GeoDataFrame({"plotID": ["a", "b"]}, geometry=[Point(500333, 4100444), Point(501222, 4100555)],
                             crs="EPSG:32611")
    plots.to_file(tmp_path / "plots.gpkg")
    make_grid(tiles, tmp_path / "grid.json", resolution=20, area="plots", plots_path=tmp_path / "plots.gpkg",
              plots_buffer_m=50, aop_pixel_size=1.0, plots_options={"id_column": "plotID", "buffer_m": 20})
    g = SiteGrid.read(tmp_path / "grid.json")
    # Discs of 20 m around the points, + 50 m, snapped out to the 20 m grid.
    assert g.bounds == (500260, 4100360, 501300, 4100640) and g.resolution == 20
    make_grid(tiles, tmp_path / "site.json", resolution=20)
    assert SiteGrid.read(tmp_path / "site.json").bounds == (500000, 4100000, 502000, 4101000)


# ---- the NDVI rule and the scaling check in the per-date job ------------------------------------

def _process(tmp_path, grid, items, bands, **kw):
    from aopflow.stages.sentinel2 import process_date

    grid.write(tmp_path / "grid.json")
    out = tmp_path / "out"
    process_date(tmp_path / "grid.json", items, "2024-06-01", out / "r.tif", out / "n.tif", out / "s.csv",
                 bands=bands, mask_classes=MASK, **kw)
    with rasterio.open(out / "r.tif") as r, rasterio.open(out / "n.tif") as n:
        return r.read(), n.read(1), s2dates.read_summary_csv(out / "s.csv")[0]


def test_per_date_ndvi_rule_hand_computed(tmp_path, grid):
    # Offset -0.1: DN 1000 is reflectance 0, DN 900 is -0.01.
    dn = {"red": np.full((280, 280), 1500, np.uint16), "nir": np.full((280, 280), 4500, np.uint16)}
    cases = [((1500, 4500), 0.75),  # normal: red 0.05, NIR 0.35: 0.30 / 0.40
             ((900, 1020), np.nan),  # negative red (plain ratio 0.012 / -0.008 = -1.5)
             ((1300, 950), np.nan),  # negative NIR
             ((1000, 1000), np.nan),  # both zero
             ((1000, 3000), 1.0), ((3000, 1000), -1.0)]  # one zero
    for j, ((r, n), _) in enumerate(cases):  # scene row 40, col 100 + 2j: site pixel (0, 2j)
        dn["red"][40, 100 + 2 * j], dn["nir"][40, 100 + 2 * j] = r, n
    it = make_item(tmp_path, "A", SITE_EPSG, 499000, 4102000, dn, np.full((140, 140), 4, np.uint8))
    refl, nd, row = _process(tmp_path, grid, [it], ["red", "nir"])
    np.testing.assert_allclose(nd[0, 0:12:2], np.array([v for _, v in cases], np.float32), rtol=1e-6)
    assert np.isfinite(refl).all()  # the reflectance is valid; only its NDVI is no data
    assert np.nanmin(nd) >= -1 and np.nanmax(nd) <= 1 and np.isnan(nd).sum() == 3
    assert row["valid_fraction"] == "1.000000" and row["scaling_flag"] == "false"


def test_bright_scene_flags_blue_and_green_only(tmp_path, grid, caplog):
    """Harmonized DNs (no +1000) with metadata offset -0.1 over bright ground: only blue and
    green go below zero; red and NIR would never show it, so every band is checked."""
    rng = np.random.default_rng(4)
    shape = (280, 280)
    true = {"blue": rng.uniform(0.04, 0.13, shape), "green": rng.uniform(0.07, 0.16, shape),
            "red": rng.uniform(0.15, 0.25, shape), "nir": rng.uniform(0.22, 0.32, shape)}
    dn = {b: np.round(v / 1e-4).astype(np.uint16) for b, v in true.items()}
    scl = np.full((140, 140), 5, np.uint8)  # not vegetated
    scl[20:40, 50:70] = 9  # cloud: not land, not counted
    scl[60:70, 60:80] = 6  # water: not land
    scl[80:90, 60:70] = 4  # vegetation: land
    it = make_item(tmp_path, "S2X_BRIGHT", SITE_EPSG, 499000, 4102000, dn, scl, baseline="05.10")
    win = (slice(40, 200), slice(100, 260))
    land = np.isin(np.repeat(np.repeat(scl, 2, 0), 2, 1)[win], (4, 5))
    share = {b: float(np.mean(dn[b][win][land] * 1e-4 - 0.1 < 0)) for b in dn}
    assert share["blue"] > 0.5 and share["green"] > 0.05 and share["red"] == share["nir"] == 0
    with caplog.at_level("WARNING", logger="aopflow.sentinel2.scaling"):
        refl, nd, row = _process(tmp_path, grid, [it], ["blue", "green", "red", "nir"], negative_share_max=0.05)
    warned = [r.getMessage() for r in caplog.records if "below zero after scale" in r.getMessage()]
    assert len(warned) == 2
    for msg, b in zip(warned, ("blue", "green")):
        assert msg.startswith(f"item S2X_BRIGHT band {b}: {100 * share[b]:.1f}% of the {land.sum()} valid land "
                              "pixels read (SCL 4, 5) are below zero after scale 0.0001 and offset -0.1")
        assert "try sentinel2.offset: zero" in msg and "Element84/earth-search#66, #71" in msg
        assert "cirrus-geo/cirrus-earth-search#33" in msg
    assert row["scaling_flag"] == "true" and float(row["negative_share"]) == pytest.approx(share["blue"], abs=1e-6)
    assert row["scaling_note"] == (f"S2X_BRIGHT: blue {share['blue']:.1%}, green {share['green']:.1%} of "
                                   f"{land.sum()} land pixels below 0 (> 5.0%)")
    # A threshold above the largest share: no flag, no warning.
    caplog.clear()
    with caplog.at_level("WARNING", logger="aopflow.sentinel2.scaling"):
        *_, row = _process(tmp_path / "b", grid, [it], ["blue", "green", "red", "nir"], negative_share_max=0.99)
    assert row["scaling_flag"] == "false" and not caplog.records
    # offset: zero gives the truth, unflagged.
    refl, nd, row = _process(tmp_path / "z", grid, [it], ["blue", "green", "red", "nir"], offset="zero")
    for k, b in enumerate(("blue", "green", "red", "nir")):
        np.testing.assert_array_equal(refl[k][land], np.float32(dn[b][win] * 1e-4)[land])
    assert row["scaling_flag"] == "false" and float(row["negative_share"]) == 0
    assert row["scale_offset_applied"].startswith("S2X_BRIGHT: blue:0.0001/0;")


def test_offset_modes():
    from aopflow.sentinel2.scaling import OFFSETS, asset_scaling

    item = {"id": "A", "properties": {"s2:processing_baseline": "05.10"},
            "assets": {"red": {"raster:bands": [{"scale": 0.0001, "offset": 0.0, "nodata": 0}]}}}
    assert OFFSETS == ("metadata", "baseline", "zero")
    assert asset_scaling(item, "red").offset == 0.0
    s = asset_scaling(item, "red", "baseline")
    assert (s.scale, s.offset, s.source) == (0.0001, -0.1, "baseline 05.10")
    assert asset_scaling(item, "red", "zero").offset == 0.0
    del item["properties"]["s2:processing_baseline"]
    with pytest.raises(ConfigError, match="sentinel2.offset is 'baseline' but item A has no s2:processing_baseline"):
        asset_scaling(item, "red", "baseline")
    with pytest.raises(ConfigError, match="Unknown sentinel2.offset 'meta'"):
        asset_scaling(item, "red", "meta")


@pytest.fixture(scope="module")
def wrong_offset_demo(tmp_path_factory):
    """Generated scenes of a 1 x 1 km site with wrong offset metadata (Earth Search #66/#71):
    2024-06-15 harmonized DNs (no +1000) whose raster:bands say -0.1; 2024-08-04 the opposite,
    DNs with the +1000 offset (baseline 05.11) whose raster:bands say 0."""
    from aopflow.demo.aop import SiteSpec
    from aopflow.demo.sentinel2 import S2DemoSpec, S2Scene, demo_items, write_demo_scenes

    root = tmp_path_factory.mktemp("wrongoffset")
    aop = SiteSpec(shape=(1, 1))
    scenes = (S2Scene("2024-06-15", swath=("none", 0), dn_offset=0.0, stated_offset=-0.1),
              S2Scene("2024-08-04", swath=("none", 0), stated_offset=0.0))
    write_demo_scenes(aop, S2DemoSpec(scenes=scenes, margin_m=500), root / "demo")
    grid = SiteGrid.from_bounds(aop.epsg, (500000.0, 4100000.0, 501000.0, 4101000.0), 10)
    return root, grid, {it["properties"]["datetime"][:10]: it for it in demo_items(root / "demo")}


BANDS4 = ["blue", "green", "red", "nir"]


def _against_truth(root, date, refl, nd):
    from aopflow.demo.sentinel2 import BAND_KEYS, load_truth

    truth = load_truth(root / "demo", date, MASK, 10)
    np.testing.assert_array_equal(refl, truth["reflectance"][[BAND_KEYS.index(b) for b in BANDS4]].astype(np.float32))
    np.testing.assert_allclose(nd, truth["ndvi"], atol=1e-6, equal_nan=True)
    return truth


def test_harmonized_dns_with_offset_metadata_are_flagged_and_zero_fixes_them(wrong_offset_demo, tmp_path, caplog):
    root, grid, items = wrong_offset_demo
    it = items["2024-06-15"]
    assert it["assets"]["red"]["raster:bands"][0]["offset"] == -0.1
    with caplog.at_level("WARNING", logger="aopflow.sentinel2.scaling"):
        refl, nd, row = _process(tmp_path / "m", grid, [it], BANDS4)
    assert row["scaling_flag"] == "true"
    warned = {r.getMessage().split(":")[0]: r.getMessage() for r in caplog.records
              if "below zero after scale" in r.getMessage()}
    # Vegetation's blue and red (about 0.05) fall below zero: > 5 % of the land in both.
    assert {f"item {it['id']} band blue", f"item {it['id']} band red"} <= set(warned)
    assert "Likely cause: an offset that does not fit the DNs: they look already harmonized" in warned[
        f"item {it['id']} band red"]
    assert float(row["negative_share"]) > 0.2 and "red" in row["scaling_note"]
    from aopflow.demo.sentinel2 import BAND_KEYS, load_truth

    t = load_truth(root / "demo", "2024-06-15", MASK, 10)
    np.testing.assert_allclose(refl, t["reflectance"][[BAND_KEYS.index(b) for b in BANDS4]] - 0.1, atol=1e-6)
    assert np.isnan(nd).mean() > 0.2  # NDVI no data where red or NIR went negative, never outside [-1, 1]
    assert np.nanmin(nd) >= -1 and np.nanmax(nd) <= 1
    # sentinel2.offset: zero gives the truth, unflagged.
    refl, nd, row = _process(tmp_path / "z", grid, [it], BANDS4, offset="zero")
    _against_truth(root, "2024-06-15", refl, nd)
    assert row["scaling_flag"] == "false" and row["scaling_note"] == ""
    assert float(row["negative_share"]) < 0.05


def test_offset_dns_with_zero_metadata_are_flagged_and_baseline_fixes_them(wrong_offset_demo, tmp_path, caplog):
    """The opposite error: every reflectance 0.1 too bright, so nothing goes negative; the
    metadata offset disagrees with the processing baseline, which flags the date."""
    root, grid, items = wrong_offset_demo
    it = items["2024-08-04"]
    assert it["assets"]["red"]["raster:bands"][0]["offset"] == 0.0
    assert it["properties"]["s2:processing_baseline"] == "05.11"
    with caplog.at_level("WARNING", logger="aopflow.sentinel2.scaling"):
        refl, nd, row = _process(tmp_path / "m", grid, [it], BANDS4)
    from aopflow.demo.sentinel2 import BAND_KEYS, load_truth

    t = load_truth(root / "demo", "2024-08-04", MASK, 10)
    np.testing.assert_allclose(refl, t["reflectance"][[BAND_KEYS.index(b) for b in BANDS4]] + 0.1, atol=1e-6)
    assert float(row["negative_share"]) == 0  # the negative check alone cannot see it
    assert row["scaling_flag"] == "true"
    assert row["scaling_note"] == (f"{it['id']}: raster:bands offset blue 0, green 0, red 0, nir 0 differs from "
                                   "the baseline's -0.1")
    assert any(f"item {it['id']} asset red: raster:bands offset 0 differs from baseline 05.11's -0.1" in r.getMessage()
               for r in caplog.records)
    refl, nd, row = _process(tmp_path / "b", grid, [it], BANDS4, offset="baseline")
    _against_truth(root, "2024-08-04", refl, nd)
    assert row["scaling_flag"] == "false" and row["scale_offset_applied"].endswith("nir:0.0001/-0.1")
