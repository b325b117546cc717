"""Tests of aopflow.stages.downscale: the file grid and profile, exact bounds, windowing, errors.

The block aggregation itself is tested by hand in tests/test_aggregate.py."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.io import DatasetReader

from aopflow.aggregate import DOWNSCALE_METHODS, block_aggregate
from aopflow.stages.downscale import downscale_file
from aopflow.errors import ConfigError, InputDataError

ND = -9999
T = Affine(1.0, 0.0, 500000.0, 0.0, -1.0, 4100000.0)

# 4x4 with nodata: blocks (top-left, top-right, bottom-left, bottom-right)
HAND = np.array([[1, 2, 3, 3],
                 [4, ND, 3, 5],
                 [7, 7, ND, ND],
                 [8, 9, ND, ND]], dtype=np.int16)


@pytest.mark.parametrize("method", sorted(DOWNSCALE_METHODS))
def test_file_hand_case_grid_and_profile(write_tif, tmp_path, method):
    src = write_tif(tmp_path / "src.tif", HAND, transform=T, nodata=ND)
    dst = tmp_path / "out" / f"{method}.tif"
    downscale_file(src, dst, resolution_m=2, method=method)
    with rasterio.open(dst) as ds:
        out = ds.read(1)
        assert ds.transform == T @ Affine.scale(2)
        assert ds.bounds == rasterio.open(src).bounds
        assert ds.count == 1 and ds.nodata == ND
        assert ds.dtypes[0] == ("float32" if method == "mean" else "int16")
        assert ds.tags()["downscale_method"] == method
    np.testing.assert_array_equal(out, block_aggregate(HAND, 2, method, ND))
    assert not list(dst.parent.glob(".*part*"))


def test_file_non_divisible_transform_and_bounds_exact(write_tif, tmp_path):
    t = Affine(1.0, 0.0, 312345.0, 0.0, -1.0, 4567890.0)
    arr = np.arange(7 * 11, dtype=np.float32).reshape(7, 11)
    src = write_tif(tmp_path / "src.tif", arr, transform=t, nodata=None)
    downscale_file(src, tmp_path / "out.tif", resolution_m=3, method="mean")
    with rasterio.open(tmp_path / "out.tif") as ds:
        assert (ds.height, ds.width) == (3, 4)
        assert ds.transform == Affine(3.0, 0.0, 312345.0, 0.0, -3.0, 4567890.0)
        assert ds.bounds == (312345.0, 4567890.0 - 9, 312345.0 + 12, 4567890.0)
        assert np.isnan(ds.nodata)
        np.testing.assert_allclose(ds.read(1), block_aggregate(arr, 3, "mean"))


def test_windowed_equals_whole_array(write_tif, tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 6, (3, 37, 53)).astype(np.int16)
    arr[rng.random(arr.shape) < 0.2] = ND
    arr[:, :10, :10] = ND  # whole blocks of nodata
    src = write_tif(tmp_path / "src.tif", arr, transform=T, nodata=ND)
    heights = []
    original = DatasetReader.read

    def spy(self, *args, **kwargs):
        if kwargs.get("window") is not None:
            heights.append(kwargs["window"].height)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(DatasetReader, "read", spy)
    for method in DOWNSCALE_METHODS:
        heights.clear()
        downscale_file(src, tmp_path / f"{method}.tif", resolution_m=4, method=method,
                       window_rows=2)
        assert max(heights) == 8 and len(heights) == 5  # 4 windows of 2 block-rows + 1 partial
        with rasterio.open(tmp_path / f"{method}.tif") as ds:
            np.testing.assert_array_equal(ds.read(), block_aggregate(arr, 4, method, ND))


def test_float_majority_and_nan_nodata(write_tif, tmp_path):
    arr = np.array([[1.5, 1.5, np.nan, np.nan], [2.5, np.nan, np.nan, np.nan]], dtype=np.float32)
    src = write_tif(tmp_path / "src.tif", arr, nodata=np.nan, transform=T)
    downscale_file(src, tmp_path / "out.tif", resolution_m=2, method="majority")
    with rasterio.open(tmp_path / "out.tif") as ds:
        out = ds.read(1)
        assert ds.dtypes[0] == "float32" and np.isnan(ds.nodata)
    assert out[0, 0] == 1.5 and np.isnan(out[0, 1])


def test_errors(write_tif, tmp_path):
    src = write_tif(tmp_path / "src.tif", HAND, transform=T, nodata=ND)
    with pytest.raises(ConfigError, match=r"2.5 m in downscale.resolutions is not a whole"):
        downscale_file(src, tmp_path / "x.tif", resolution_m=2.5, method="mean")
    with pytest.raises(ConfigError, match="downscale.resolutions"):
        downscale_file(src, tmp_path / "x.tif", resolution_m=0.5, method="mean")
    with pytest.raises(ConfigError, match=r"Unknown method 'median' for downscale.method"):
        downscale_file(src, tmp_path / "x.tif", resolution_m=2, method="median")
    geo = write_tif(tmp_path / "geo.tif", HAND, transform=Affine(0.001, 0, -120, 0, -0.001, 38),
                    nodata=ND, crs="EPSG:4326")
    with pytest.raises(InputDataError, match="geographic CRS"):
        downscale_file(geo, tmp_path / "x.tif", resolution_m=2, method="mean")
    with pytest.raises(InputDataError, match="Cannot open raster"):
        downscale_file(tmp_path / "missing.tif", tmp_path / "x.tif", resolution_m=2,
                       method="mean")
    assert not (tmp_path / "x.tif").exists()


