"""The Sentinel-2 demo scene generator (aopflow.demo.sentinel2): encoding, COGs, items, truth."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from rasterio.warp import Resampling, reproject
from rasterio.windows import from_bounds

from aopflow.demo.aop import abundances_at
from aopflow.demo.sentinel2 import (
    BAND_KEYS,
    DEFAULT_MASK_CLASSES,
    SCALE,
    S2DemoSpec,
    baseline_for_date,
    boa_offset,
    decode_dn,
    drop_raster_bands,
    encode_dn,
    greenness,
    load_truth,
    spectra_on,
    write_served_items,
)
from aopflow.errors import ConfigError
from s2_servers import s2_demo  # noqa: F401  (session fixture: the generated demo)

ID_RE = re.compile(r"^S2[ABC]_(\d{1,2})([C-X])([A-Z]{2})_(\d{8})_0_L2A$")


def _site_bounds(aop):
    x0, y0 = aop.origin
    return x0, y0, x0 + 1000 * aop.shape[0], y0 + 1000 * aop.shape[1]


def _by_date(items):
    out = {}
    for it in items:
        out.setdefault(it["properties"]["datetime"][:10], []).append(it)
    return out


def _read_site(path, aop, res):
    """Read the site window of a scene COG in its own grid (scene already on the site grid)."""
    with rasterio.open(path) as src:
        win = from_bounds(*_site_bounds(aop), transform=src.transform)
        assert win.col_off == int(win.col_off) and win.width * res == 1000 * aop.shape[0]
        return src.read(1, window=win)


def test_dn_encoding_round_trip_and_offsets():
    refl = np.array([0.0, 0.0123, 0.25, 0.6, -0.05])
    for offset in (0.0, -0.1):
        dn = encode_dn(refl, offset)
        assert dn.dtype == np.uint16
        back = decode_dn(dn, offset)
        ok = refl - offset > 0  # negative DNs cannot be encoded; they clip to 1
        np.testing.assert_allclose(back[ok], refl[ok], atol=SCALE / 2 + 1e-12)
    assert encode_dn(np.array([0.25]), -0.1)[0] == 3500  # 10000 * 0.25 + 1000
    assert encode_dn(np.array([0.25]), 0.0)[0] == 2500
    assert encode_dn(np.array([0.3, 0.3]), -0.1, np.array([True, False])).tolist() == [4000, 0]
    assert np.isnan(decode_dn(np.array([0], np.uint16), -0.1)[0])
    assert boa_offset("03.01") == 0.0 and boa_offset("02.14") == 0.0
    assert boa_offset("04.00") == -0.1 and boa_offset("05.10") == -0.1
    import datetime as dt

    assert boa_offset(baseline_for_date(dt.date(2022, 1, 24))) == 0.0
    assert boa_offset(baseline_for_date(dt.date(2022, 1, 25))) == -0.1
    with pytest.raises(ConfigError, match="processing baseline"):
        boa_offset("N0400")


def test_items_follow_earth_search_conventions(s2_demo):
    items = s2_demo.items
    assert len(items) == len(s2_demo.spec.all_scenes()) == 9
    lon0, lat0, lon1, lat1 = Transformer.from_crs(s2_demo.aop.epsg, 4326, always_xy=True).transform_bounds(
        *_site_bounds(s2_demo.aop))
    for it in items:
        p = it["properties"]
        m = ID_RE.match(it["id"])
        assert m, it["id"]
        assert int(m.group(1)) == p["mgrs:utm_zone"] and m.group(2) == p["mgrs:latitude_band"]
        assert m.group(3) == p["mgrs:grid_square"] and m.group(4) == p["datetime"][:10].replace("-", "")
        assert p["proj:epsg"] == 32600 + p["mgrs:utm_zone"]
        assert it["collection"] == "sentinel-2-l2a" and it["type"] == "Feature"
        off = boa_offset(p["s2:processing_baseline"])
        assert p["earthsearch:boa_offset_applied"] is (off != 0)
        assert 0 <= p["eo:cloud_cover"] <= 100
        for key in (*BAND_KEYS, "scl"):
            a = it["assets"][key]
            rb = a["raster:bands"][0]
            assert rb["nodata"] == 0
            with rasterio.open(a["href"]) as src:
                assert list(src.shape) == a["proj:shape"]
                assert list(src.transform)[:6] == pytest.approx(a["proj:transform"])
                assert src.crs.to_epsg() == p["proj:epsg"]
                assert src.dtypes[0] == rb["data_type"] and src.nodata == 0
            if key != "scl":
                assert rb["scale"] == SCALE and rb["offset"] == off and a["gsd"] == 10
        assert a["proj:transform"][0] == 20  # SCL at 20 m
        assert it["geometry"]["type"] == "Polygon"
    # Every date's scenes cover the site (bbox in EPSG:4326; one date needs both its scenes).
    for date, group in _by_date(items).items():
        b = np.array([it["bbox"] for it in group])
        assert b[:, 0].min() < lon0 and b[:, 1].min() < lat0, date
        assert b[:, 2].max() > lon1 and b[:, 3].max() > lat1, date
        if len(group) == 2:
            assert len({it["properties"]["proj:epsg"] for it in group}) == 2
            assert any(bb[2] < lon1 for bb in b)  # the site's zone alone does not cover it
    # Scenes in the config's default window are all >= 04.00; the pre-04.00 one is in 2021.
    for it in items:
        in_window = "2024-04-01" <= it["properties"]["datetime"][:10] <= "2024-10-31"
        assert in_window == (boa_offset(it["properties"]["s2:processing_baseline"]) == -0.1)
    assert sum(not it["properties"]["earthsearch:boa_offset_applied"] for it in items) == 1


def test_cogs_are_cloud_optimized_and_large(s2_demo):
    it = s2_demo.items[1]
    for key in (*BAND_KEYS, "scl"):
        with rasterio.open(it["assets"][key]["href"]) as src:
            assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
            assert src.block_shapes[0] == (256, 256)
            assert src.overviews(1), "COGs carry overviews"
    size = (s2_demo.dir / "scenes" / it["id"] / "red.tif").stat().st_size
    assert size > 1_000_000  # several HTTP range requests for any read


def test_scl_classes_clouds_and_two_zone_date(s2_demo):
    seen = set()
    for it in s2_demo.items:
        with rasterio.open(it["assets"]["scl"]["href"]) as src:
            seen |= set(np.unique(src.read(1)).tolist())
    assert {0, 1, 3, 4, 5, 6, 8, 9, 10} <= seen
    cc = {it["id"]: it["properties"]["eo:cloud_cover"] for it in s2_demo.items}
    assert max(cc.values()) > 30 and sum(v > 30 for v in cc.values()) == 1
    truth = json.loads((s2_demo.dir / "truth" / "truth.json").read_text())["dates"]
    # A date under the cloud threshold whose site is mostly under cloud (min_valid_fraction).
    assert any(max(v["cloud_cover"]) < 30 and v["valid_fraction"] < 0.2 for v in truth.values())
    two = [d for d, v in truth.items() if len(v["items"]) == 2]
    assert len(two) == 1
    v = truth[two[0]]
    assert v["epsg"] == [32611, 32610] and v["valid_fraction"] == 1.0
    t = load_truth(s2_demo.dir, two[0])
    assert set(np.unique(t["source"]).tolist()) == {1, 2, 3}  # each alone, and both


def test_truth_equals_scene_dns(s2_demo):
    """Independent computation from the COGs: DN x scale + offset, SCL mask, at pixel centres."""
    aop = s2_demo.aop
    for date, items in _by_date(s2_demo.items).items():
        t = load_truth(s2_demo.dir, date)
        it = items[0] if items[0]["properties"]["proj:epsg"] == aop.epsg else items[1]
        off = it["assets"]["red"]["raster:bands"][0]["offset"]
        scl = np.repeat(np.repeat(_read_site(it["assets"]["scl"]["href"], aop, 20), 2, 0), 2, 1)
        here = (t["source"] & 1).astype(bool)  # pixels of the on-grid scene
        assert here.mean() > 0.5
        bad = np.isin(scl, DEFAULT_MASK_CLASSES)
        for b, key in enumerate(BAND_KEYS):
            dn = _read_site(it["assets"][key]["href"], aop, 10)
            expect = np.where(bad, np.nan, dn * SCALE + off)
            np.testing.assert_allclose(t["reflectance"][b][here], expect[here], rtol=0, atol=1e-7)  # float32 file
        with rasterio.open(s2_demo.dir / "truth" / date / "ndvi.tif") as src:
            ndvi = src.read(1)
        assert np.isnan(ndvi[bad & here]).all() and np.isfinite(ndvi[~bad & here]).all()
        red, nir = t["reflectance"][2], t["reflectance"][3]
        np.testing.assert_allclose(ndvi, (nir - red) / (nir + red), rtol=0, atol=1e-6, equal_nan=True)
    # The other zone's scene, reprojected by nearest onto the site grid, where only it has data.
    date = next(d for d, v in _by_date(s2_demo.items).items() if len(v) == 2)
    other = [it for it in _by_date(s2_demo.items)[date] if it["properties"]["proj:epsg"] != aop.epsg][0]
    t = load_truth(s2_demo.dir, date)
    x0, y0, x1, y1 = _site_bounds(aop)
    dst = np.zeros((200, 300), np.uint16)
    with rasterio.open(other["assets"]["nir"]["href"]) as src:
        reproject(rasterio.band(src, 1), dst, dst_transform=rasterio.Affine(10, 0, x0, 0, -10, y1),
                  dst_crs=f"EPSG:{aop.epsg}", resampling=Resampling.nearest)
    only = t["source"] == 2
    assert only.mean() > 0.2
    got = dst[only] * SCALE - 0.1
    agree = np.isclose(got, t["reflectance"][3][only], atol=1e-9)
    assert agree.mean() > 0.98, agree.mean()  # GDAL's approximate transformer: a few neighbours


def test_truth_matches_aop_materials_and_phenology(s2_demo):
    """Over the site the S2 reflectance is the AOP abundances x band spectra (+ noise)."""
    aop = s2_demo.aop
    x0, y0, x1, y1 = _site_bounds(aop)
    X, Y = np.meshgrid(np.arange(x0 + 5, x1, 10.0), np.arange(y1 - 5, y0, -10.0))
    ab = abundances_at(aop, X, Y)
    import datetime as dt

    for date in ("2024-04-18", "2024-08-04"):
        t = load_truth(s2_demo.dir, date)
        ok = np.isin(t["scl"], (4, 5, 6)) & (t["source"] == 1)
        model = ab @ spectra_on(aop.materials, dt.date.fromisoformat(date))
        for b in range(4):
            diff = t["reflectance"][b][ok] - model[..., b][ok]
            assert abs(diff.mean()) < 5e-4 and diff.std() < 3 * s2_demo.spec.noise
    assert greenness(220) > 0.95 > 0.5 > greenness(100)
    veg = ab[..., list(aop.materials).index("vegetation")] > 0.9
    spring = load_truth(s2_demo.dir, "2024-04-18")["ndvi"]
    summer = load_truth(s2_demo.dir, "2024-08-04")["ndvi"]
    both = veg & np.isfinite(spring) & np.isfinite(summer)
    assert both.sum() > 50 and np.median(summer[both]) > np.median(spring[both]) + 0.2


def test_truth_at_coarser_resolution_is_block_mean(s2_demo):
    t10 = load_truth(s2_demo.dir, "2024-05-23")
    t20 = load_truth(s2_demo.dir, "2024-05-23", resolution=20)
    assert t20["reflectance"].shape == (4, 100, 150)
    blk = t10["reflectance"].reshape(4, 100, 2, 150, 2).mean(axis=(2, 4))
    np.testing.assert_allclose(t20["reflectance"], blk, equal_nan=True)
    t25 = load_truth(s2_demo.dir, "2024-05-23", resolution=25)  # nearest: centre 12.5 m -> px 1
    assert t25["reflectance"].shape == (4, 80, 120)
    np.testing.assert_array_equal(t25["reflectance"][:, 3, 5], t10["reflectance"][:, 8, 13])
    with pytest.raises(ConfigError, match="sentinel2.resolution"):
        load_truth(s2_demo.dir, "2024-05-23", resolution=15)


def test_served_items_and_dropped_raster_bands(s2_demo, tmp_path):
    coll, nd = write_served_items(s2_demo.items_json, "http://127.0.0.1:9/", tmp_path)
    lines = [json.loads(ln) for ln in nd.read_text().splitlines()]
    assert [it["id"] for it in lines] == [it["id"] for it in s2_demo.items]
    href = lines[0]["assets"]["red"]["href"]
    assert href == f"http://127.0.0.1:9/scenes/{lines[0]['id']}/red.tif"
    assert json.loads(coll.read_text())["id"] == "sentinel-2-l2a"
    victim = s2_demo.items[2]["id"]
    out = drop_raster_bands(s2_demo.items_json, victim, tmp_path / "items.json")
    feats = {f["id"]: f for f in json.loads(out.read_text())["features"]}
    assert all("raster:bands" not in a for a in feats[victim]["assets"].values())
    assert sum("raster:bands" in f["assets"]["red"] for f in feats.values()) == len(feats) - 1
    with pytest.raises(ConfigError, match="no item"):
        drop_raster_bands(s2_demo.items_json, "S2A_00XXX_20240101_0_L2A", tmp_path / "x.json")


def test_spec_from_config():
    spec = S2DemoSpec.from_config({"seed": 3, "include_pre04": True,
                                   "drop_raster_bands": ["S2B_11SMB_20240523_0_L2A"]})
    assert spec.seed == 3 and spec.all_scenes()[0].date.startswith("2021")
    assert S2DemoSpec.from_config(None) == S2DemoSpec()
    with pytest.raises(ConfigError, match="unknown key"):
        S2DemoSpec.from_config({"sede": 3})
    with pytest.raises(ConfigError, match="margin_m"):
        S2DemoSpec.from_config({"margin_m": 10})
