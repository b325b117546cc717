"""HDF5 -> GeoTIFF conversion keeps values, CRS and transform."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from aopflow.stages.convert import ancillary_to_geotiff, rgb_to_geotiff
from aopflow.errors import NeonFormatError
from aopflow.demo.aop import write_tile
from aopflow.neon.reader import NeonTile

from conftest import tiny_spec


def _h5_value_at(tile: NeonTile, band: int, x: float, y: float) -> int:
    col, row = ~tile.meta.transform @ (x, y)
    return int(tile.read_bands([band], window=(slice(int(row), int(row) + 1), slice(int(col), int(col) + 1)))[0, 0, 0])


def test_rgb_values_crs_transform(site_002, tmp_path):
    _, paths = site_002
    out = rgb_to_geotiff(paths[1], tmp_path / "rgb.tif", (669, 549, 474))
    rng = np.random.default_rng(0)
    with NeonTile(paths[1]) as t, rasterio.open(out) as src:
        bands = t.meta.nearest_bands([669, 549, 474])
        assert src.crs.to_epsg() == t.meta.epsg
        assert src.transform == t.meta.transform
        assert tuple(src.bounds) == t.meta.bounds
        assert src.dtypes == ("float32",) * 3
        data = src.read()
        for _ in range(25):
            x = rng.uniform(src.bounds.left, src.bounds.right)
            y = rng.uniform(src.bounds.bottom, src.bounds.top)
            r, c = src.index(x, y)
            for i, b in enumerate(bands):
                raw = _h5_value_at(t, b, x, y)
                if raw == -9999:
                    assert np.isnan(data[i, r, c])
                else:
                    assert data[i, r, c] == pytest.approx(raw / 10000.0, abs=1e-7)


def test_rgb_picks_tutorial_bands(site_002):
    _, paths = site_002
    with NeonTile(paths[0]) as t:
        # With 120 bands the grid is coarser; check the nearest-band rule instead.
        wl = t.meta.wavelengths
        for w, b in zip((669, 549, 474), t.meta.nearest_bands((669, 549, 474))):
            assert abs(wl[b] - w) == np.min(np.abs(wl - w))
    from aopflow.demo.aop import wavelength_grid

    wl = wavelength_grid(426)
    assert [int(np.argmin(abs(wl - w))) + 1 for w in (669, 549, 474)] == [58, 34, 19]


@pytest.mark.parametrize("revision", ["001", "002"])
def test_wqi_codes_for_both_revisions(revision, tmp_path):
    spec = tiny_spec(revision=revision, shape=(1, 1))
    tid = spec.tile_ids()[0]
    h5 = write_tile(spec, tid, tmp_path)
    out = ancillary_to_geotiff(h5, "Weather_Quality_Indicator", tmp_path / "wqi.tif", tile_id=tid)
    with rasterio.open(out) as src:
        w = src.read(1)
        assert src.nodata == 0 and w.dtype == np.uint8
    assert set(np.unique(w)) <= {0, 1, 2, 3}
    # The same scene gives the same codes in both revisions.
    other = tiny_spec(revision="002" if revision == "001" else "001", shape=(1, 1))
    h5b = write_tile(other, tid, tmp_path / "b")
    with NeonTile(h5b) as t:
        np.testing.assert_array_equal(t.read_layer("Weather_Quality_Indicator")[0], w)


def test_ten_metre_tile_gets_ten_metre_transform(tmp_path):
    spec = tiny_spec(pixels=100, pixel_size=10.0, shape=(1, 1), bands=80)
    tid = spec.tile_ids()[0]
    h5 = write_tile(spec, tid, tmp_path)
    out = rgb_to_geotiff(h5, tmp_path / "rgb.tif", (669, 549, 474), tile_id=tid)
    with rasterio.open(out) as src:
        assert src.res == (10.0, 10.0)
        assert tuple(src.bounds) == (500000.0, 4100000.0, 501000.0, 4101000.0)


def test_missing_layer_is_an_error_only_when_requested(tmp_path, site_002):
    import h5py

    _, paths = site_002
    sub = tmp_path / paths[0].name
    with h5py.File(paths[0]) as src, h5py.File(sub, "w") as dst:
        for k in src:
            src.copy(src[k], dst, name=k)
        del dst[f"{k}/Reflectance/Metadata/Ancillary_Imagery"]
    rgb_to_geotiff(sub, tmp_path / "rgb.tif")  # fine
    with pytest.raises(NeonFormatError, match="Weather_Quality_Indicator"):
        ancillary_to_geotiff(sub, "Weather_Quality_Indicator", tmp_path / "wqi.tif")
    assert not (tmp_path / "wqi.tif").exists()
    assert not list(tmp_path.glob(".wqi.tif*"))


def test_cleaned_reflectance_geotiff(site_001, tmp_path):
    from aopflow.clean import CleanSpec, tile_good_bands
    from aopflow.stages.convert import reflectance_to_geotiff

    spec, paths = site_001  # legacy chunk layout, row blocks
    out = reflectance_to_geotiff(paths[-1], tmp_path / "refl.tif", tile_id=spec.tile_ids()[-1])
    with NeonTile(paths[-1]) as t, rasterio.open(out) as src:
        bands = tile_good_bands(t.meta, CleanSpec())
        expect = t.read_bands(bands)
        assert src.count == bands.size and src.transform == t.meta.transform
        np.testing.assert_array_equal(np.moveaxis(src.read(), 0, -1), expect)
        assert src.nodata == -9999 and src.scales[0] == pytest.approx(1e-4)
        assert src.descriptions[0] == f"{t.meta.wavelengths[bands[0]]:.2f} nm"
