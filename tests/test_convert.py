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


def _wqi_pattern(rows: int, cols: int) -> np.ndarray:
    """Codes 1, 2, 3 in diagonal stripes (uint8, rows x cols)."""
    r, c = np.mgrid[:rows, :cols]
    return ((r + c) % 3 + 1).astype(np.uint8)


def _replace_wqi(h5, data: np.ndarray, ignore=None) -> None:
    import h5py

    with h5py.File(h5, "r+") as f:
        (site,) = f.keys()
        anc = f[f"{site}/Reflectance/Metadata/Ancillary_Imagery"]
        del anc["Weather_Quality_Indicator"]
        ds = anc.create_dataset("Weather_Quality_Indicator", data=data)
        if ignore is not None:
            ds.attrs["Data_Ignore_Value"] = np.float64(ignore)


# NEON's tutorial files: int16/int32 with -9999 outside flight coverage; also 0 and 255, as
# uint8-era layers and writers that use them; with or without a Data_Ignore_Value attribute.
WQI_NODATA_CASES = [
    ("int16", -9999, None), ("int32", -9999, None), ("int16", -9999, -9999.0),
    ("int32", 0, None), ("int16", 255, None), ("uint8", 255, 255.0), ("uint8", 0, None),
]


@pytest.mark.parametrize("dtype,missing,ignore", WQI_NODATA_CASES)
def test_wqi_nodata_never_becomes_a_class(dtype, missing, ignore, tmp_path):
    """-9999 (or 0, 255) in a .002 WQI layer is no data (0) in read_layer, the tile GeoTIFF,
    the mosaic, the figure's class counts and the zonal class fractions; never a 4th class."""
    import geopandas as gpd
    import pandas as pd
    from shapely.geometry import box

    from aopflow.stages.figures import wqi_class_counts, wqi_figure
    from aopflow.stages.mosaic import mosaic
    from aopflow.stages.zonal import zonal_for_raster

    spec = tiny_spec(revision="002", shape=(2, 1))
    px = spec.pixels
    codes = _wqi_pattern(px, px)
    expected, tifs = [], []
    for k, tid in enumerate(spec.tile_ids()):
        h5 = write_tile(spec, tid, tmp_path / "h5")
        stored = codes.astype(dtype)
        want = codes.copy()
        # West tile: its 10 northern rows have no data; east tile: its 10 eastern columns.
        hole = np.s_[:10, :] if k == 0 else np.s_[:, -10:]
        stored[hole] = missing
        want[hole] = 0
        _replace_wqi(h5, stored, ignore)
        with NeonTile(h5) as t:
            got, nodata = t.read_layer("Weather_Quality_Indicator")
            info = t.layer_info("Weather_Quality_Indicator")
        assert got.dtype == np.uint8 and nodata == 0 and info.nodata == 0
        assert info.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(got, want)
        tif = ancillary_to_geotiff(h5, "Weather_Quality_Indicator", tmp_path / f"{tid}.tif", tile_id=tid)
        with rasterio.open(tif) as src:
            assert src.nodata == 0 and src.dtypes[0] == "uint8"
            np.testing.assert_array_equal(src.read(1), want)
        expected.append(want)
        tifs.append(tif)
    site = np.hstack(expected)  # the two tiles side by side, west to east
    out = mosaic(tifs, tmp_path / "wqi.tif", resampling="nearest")
    with rasterio.open(out) as src:
        assert src.nodata == 0
        m = src.read(1)
        transform = src.transform
    np.testing.assert_array_equal(m, site)
    assert set(np.unique(m).tolist()) == {0, 1, 2, 3}
    counts = wqi_class_counts(out)
    assert counts == {c: int((site == c).sum()) for c in (0, 1, 2, 3)}
    assert wqi_figure(out, tmp_path / "wqi.png").stat().st_size > 0
    # Zonal class fractions: a plot half in the west tile's no-data rows, one across the border.
    res = spec.pixel_size
    x0, top = transform.c, transform.f
    plots = gpd.GeoDataFrame(
        {"plotID": ["edge", "border"]},
        geometry=[
            box(x0 + 5 * res, top - 20 * res, x0 + 11 * res, top),  # rows 0-19, cols 5-10
            box(x0 + (px - 3) * res, top - 30 * res, x0 + (px + 3) * res, top - 24 * res),
        ],
        crs=f"EPSG:{spec.epsg}",
    )
    plots.to_file(tmp_path / "plots.gpkg", driver="GPKG")
    zonal_for_raster(
        out, tmp_path / "plots.gpkg", name="wqi", gpkg_path=tmp_path / "z.gpkg",
        csv_path=tmp_path / "z.csv", bars_png=tmp_path / "bars.png", hist_png=tmp_path / "hist.png",
        categorical=True,
    )
    table = pd.read_csv(tmp_path / "z.csv")
    assert sorted(c for c in table.columns if c.startswith("frac_")) == ["frac_1", "frac_2", "frac_3"]
    windows = [site[0:20, 5:11], site[24:30, px - 3 : px + 3]]
    for row, win in zip(table.itertuples(), windows):
        valid = win[win > 0]
        for c in (1, 2, 3):
            assert getattr(row, f"frac_{c}") == pytest.approx((valid == c).mean(), abs=1e-12)
    assert table.loc[0, "frac_1"] + table.loc[0, "frac_2"] + table.loc[0, "frac_3"] == pytest.approx(1.0)


def test_wqi_layer_own_ignore_value_is_honoured(tmp_path):
    # A layer whose Data_Ignore_Value is one of the codes (3): those pixels are no data too.
    spec = tiny_spec(revision="002", shape=(1, 1))
    tid = spec.tile_ids()[0]
    h5 = write_tile(spec, tid, tmp_path)
    codes = _wqi_pattern(spec.pixels, spec.pixels).astype(np.int32)
    _replace_wqi(h5, codes, ignore=3)
    with NeonTile(h5) as t:
        got, _ = t.read_layer("Weather_Quality_Indicator")
    np.testing.assert_array_equal(got, np.where(codes == 3, 0, codes))


def test_other_layers_keep_their_nodata_and_are_never_wrapped(tmp_path):
    import h5py

    from aopflow.errors import InputDataError
    from aopflow.raster import cast_exact

    spec = tiny_spec(revision="001", shape=(1, 1))
    tid = spec.tile_ids()[0]
    h5 = write_tile(spec, tid, tmp_path)
    with h5py.File(h5, "r+") as f:
        md = f[f"{spec.site}/Reflectance/Metadata"]
        md["Ancillary_Imagery/Slope"].attrs["Data_Ignore_Value"] = np.float64(-1.0)
    cases = {
        "Slope": -1.0,  # its own Data_Ignore_Value
        "Aspect": -9999.0,  # none: the reflectance's
        "Data_Selection_Index": -1.0,  # NEON's convention
        "Cast_Shadow": 241.0,  # NEON's -9999 stored in a uint8 layer
        "Dark_Dense_Vegetation_Classification": None,  # uint8, -9999 cannot occur
        "to-sensor_Zenith_Angle": -9999.0,  # its own attribute
    }
    for layer, nodata in cases.items():
        out = ancillary_to_geotiff(h5, layer, tmp_path / f"{layer}.tif")
        with NeonTile(h5) as t, rasterio.open(out) as src:
            arr, nd = t.read_layer(layer)
            assert nd == nodata and t.layer_info(layer).nodata == nodata, layer
            assert src.nodata == nodata, layer
            assert src.dtypes[0] == arr.dtype.name
            np.testing.assert_array_equal(src.read(1), arr)
    with pytest.raises(InputDataError, match="layer X.*-9999.*uint8"):
        cast_exact(np.array([1, -9999], dtype=np.int16), np.uint8, "layer X")
    assert cast_exact(np.array([1, 200], dtype=np.int16), np.uint8, "x").dtype == np.uint8
