"""Site mosaics: bounds, values at tile borders, split/merge round trip, CRS mismatch."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine

from aopflow.stages.convert import rgb_to_geotiff
from aopflow.errors import SiteError
from aopflow.raster import write_geotiff
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
