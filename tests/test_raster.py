"""Site mosaics: bounds, values at tile borders, split/merge round trip, CRS mismatch."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine

from aopflow.stages.convert import rgb_to_geotiff
from aopflow.errors import SiteError
from aopflow.raster import copy_as_cog, write_cog, write_geotiff
from aopflow.stages.mosaic import mosaic


def test_mosaic_bounds_and_border_pixels(site_002, tmp_path):
    _, paths = site_002
    tifs = [rgb_to_geotiff(p, tmp_path / f"t{i}.tif") for i, p in enumerate(paths)]
    out = mosaic(tifs, tmp_path / "rgb.tif")
    bounds = []
    with rasterio.open(out) as m:
        assert m.profile["tiled"] and m.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        mosaic_arr = m.read()
        for t in tifs:
            with rasterio.open(t) as src:
                bounds.append(src.bounds)
                arr = src.read()
                # Pixels right at each tile border (first/last row and column) match the tile.
                for r, c in [(0, 0), (0, src.width - 1), (src.height - 1, 0), (src.height - 1, src.width - 1),
                             (src.height // 2, 0), (0, src.width // 2)]:
                    x, y = src.xy(r, c)
                    mr, mc = m.index(x, y)
                    np.testing.assert_array_equal(mosaic_arr[:, mr, mc], arr[:, r, c])
        assert m.bounds.left == min(b.left for b in bounds)
        assert m.bounds.right == max(b.right for b in bounds)
        assert m.bounds.bottom == min(b.bottom for b in bounds)
        assert m.bounds.top == max(b.top for b in bounds)


def test_quadrants_merge_back(tmp_path):
    rng = np.random.default_rng(1)
    data = rng.integers(0, 250, (2, 64, 96)).astype(np.uint8)
    t = Affine(2.0, 0, 1000.0, 0, -2.0, 5000.0)
    parts = []
    for r0 in (0, 32):
        for c0 in (0, 48):
            sub = data[:, r0:r0 + 32, c0:c0 + 48]
            parts.append(write_geotiff(tmp_path / f"q{r0}_{c0}.tif", sub, crs=32611,
                                       transform=t @ Affine.translation(c0, r0), nodata=255))
    out = mosaic(parts[::-1], tmp_path / "m.tif", resampling="nearest")
    with rasterio.open(out) as m:
        np.testing.assert_array_equal(m.read(), data)
        assert m.transform == t


def test_missing_tile_leaves_nodata(tmp_path):
    t = Affine(1.0, 0, 0, 0, -1.0, 20)
    a = write_geotiff(tmp_path / "a.tif", np.ones((10, 10), "float32"), crs=32611, transform=t, nodata=np.nan)
    b = write_geotiff(tmp_path / "b.tif", np.ones((10, 10), "float32"), crs=32611,
                      transform=t @ Affine.translation(10, 10), nodata=np.nan)
    with rasterio.open(mosaic([a, b], tmp_path / "m.tif")) as m:
        arr = m.read(1)
    assert arr.shape == (20, 20) and np.isnan(arr[0, 15]) and arr[0, 0] == 1 and arr[15, 15] == 1


def test_two_crs_is_an_error(tmp_path):
    t = Affine(1.0, 0, 0, 0, -1.0, 10)
    a = write_geotiff(tmp_path / "a.tif", np.ones((4, 4), "float32"), crs=32611, transform=t, nodata=np.nan)
    b = write_geotiff(tmp_path / "b.tif", np.ones((4, 4), "float32"), crs=32612, transform=t, nodata=np.nan)
    with pytest.raises(SiteError, match=r"a.tif is EPSG:32611 but b.tif is EPSG:32612"):
        mosaic([a, b], tmp_path / "m.tif")
    assert not (tmp_path / "m.tif").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["a.tif", "b.tif"] or sorted(p.name for p in tmp_path.iterdir()) == ["a.tif", "b.tif"]


def test_large_mosaic_has_overviews(tmp_path):
    t = Affine(1.0, 0, 0, 0, -1.0, 600)
    tiles = [write_geotiff(tmp_path / f"{i}.tif", np.full((600, 300), i, "float32"), crs=32611,
                           transform=t @ Affine.translation(300 * i, 0), nodata=np.nan) for i in range(2)]
    with rasterio.open(mosaic(tiles, tmp_path / "m.tif")) as m:
        assert m.overviews(1) and m.block_shapes[0] == (256, 256)


def test_tiles_with_different_nodata_merge_to_the_first_tiles(tmp_path):
    # Each HDF5 layer may carry its own Data_Ignore_Value: a tile's no-data stays no-data.
    a = np.array([[1, -9999], [3, 4]], dtype=np.int16)
    b = np.array([[-1, 6], [7, 8]], dtype=np.int16)
    pa = write_geotiff(tmp_path / "a.tif", a, crs=32611, transform=Affine(1, 0, 0, 0, -1, 2), nodata=-9999)
    pb = write_geotiff(tmp_path / "b.tif", b, crs=32611, transform=Affine(1, 0, 2, 0, -1, 2), nodata=-1)
    out = mosaic([pa, pb], tmp_path / "m.tif", cog=False)
    with rasterio.open(out) as src:
        assert src.nodata == -9999
        np.testing.assert_array_equal(src.read(1), [[1, -9999, -9999, 6], [3, 4, 7, 8]])
    # A valid pixel of the second tile that equals the mosaic's no-data is a conflict.
    c = np.array([[-1, -9999], [7, 8]], dtype=np.int16)
    pc = write_geotiff(tmp_path / "c.tif", c, crs=32611, transform=Affine(1, 0, 2, 0, -1, 2), nodata=-1)
    with pytest.raises(SiteError, match="c.tif.*no-data -1.*-9999"):
        mosaic([pa, pc], tmp_path / "m2.tif", cog=False)


def _predictor(path) -> str | None:
    with rasterio.open(path) as src:
        return src.tags(ns="IMAGE_STRUCTURE").get("PREDICTOR")


def test_write_cog_round_trip_and_predictor_per_dtype(tmp_path):
    t = Affine(10, 0, 500000, 0, -10, 4130000)
    refl = np.arange(2 * 300 * 280, dtype=np.float32).reshape(2, 280, 300) / 1e4
    refl[:, :3, :3] = np.nan
    out = write_cog(tmp_path / "sub" / "refl.tif", refl, crs=32611, transform=t, nodata=float("nan"),
                    overview_resampling="nearest", band_names=["red", "nir"], tags={"date": "2024-06-15"})
    dn = np.arange(300 * 280, dtype=np.uint16).reshape(280, 300)
    write_cog(tmp_path / "dn.tif", dn, crs="EPSG:32611", transform=t, nodata=0, overview_resampling="average")
    write_cog(tmp_path / "dn2.tif", dn, crs=32611, transform=t, nodata=0, overview_resampling="average",
              predictor=2, level=1)
    with rasterio.open(out) as src:
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert src.crs.to_epsg() == 32611 and src.transform == t and src.dtypes == ("float32",) * 2
        assert src.descriptions == ("red", "nir") and src.tags()["date"] == "2024-06-15"
        assert src.block_shapes[0] == (256, 256) and src.overviews(1)
        np.testing.assert_array_equal(src.read(), refl)
    with rasterio.open(tmp_path / "dn.tif") as src:
        assert src.nodata == 0 and src.dtypes == ("uint16",)
        np.testing.assert_array_equal(src.read(1), dn)
    assert _predictor(out) == "3"  # floating-point predictor for floats
    assert _predictor(tmp_path / "dn.tif") is None  # none for integers by default
    assert _predictor(tmp_path / "dn2.tif") == "2"  # unless asked for


def test_copy_as_cog_keeps_values_and_metadata(tmp_path):
    t = Affine(1, 0, 0, 0, -1, 300)
    src_tif = write_geotiff(tmp_path / "a.tif", np.arange(300 * 300, dtype=np.float32).reshape(300, 300),
                            crs=32611, transform=t, nodata=float("nan"), band_names=["ndvi"])
    copy_as_cog(src_tif, tmp_path / "a_cog.tif", overview_resampling="average")
    with rasterio.open(src_tif) as a, rasterio.open(tmp_path / "a_cog.tif") as b:
        assert b.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert b.descriptions == ("ndvi",) and b.transform == a.transform and b.crs == a.crs
        np.testing.assert_array_equal(b.read(), a.read())
    assert _predictor(tmp_path / "a_cog.tif") == "3"


def test_scratch_geotiffs_are_zstd_and_products_deflate(tmp_path):
    t = Affine(1, 0, 500000, 0, -1, 4100000)
    data = np.random.default_rng(0).random((3, 300, 280)).astype("float32")
    data[0, :5] = np.nan
    for scratch, codec in [(False, "deflate"), (True, "zstd")]:
        out = write_geotiff(tmp_path / f"{codec}.tif", data, crs=32611, transform=t, nodata=np.nan, scratch=scratch)
        with rasterio.open(out) as src:
            assert src.profile["compress"] == codec and src.profile["tiled"]
            assert src.tags(ns="IMAGE_STRUCTURE").get("PREDICTOR") == "3"
            np.testing.assert_array_equal(src.read(), data)
