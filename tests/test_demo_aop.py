"""The demo-site generator writes what NEON writes, and what it writes reads back as written."""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest
import rasterio

from aopflow.errors import ConfigError
from aopflow.demo.aop import (
    ANCILLARY_001,
    ANCILLARY_002,
    RarePatch,
    abundances_at,
    write_tile,
    endmember_spectra,
    tile_file_name,
    wavelength_grid,
)
from aopflow.neon.reader import NeonTile

from conftest import tiny_spec


def test_layout_and_attributes(site_002, site_001):
    for spec, paths in (site_002, site_001):
        assert [p.name for p in paths] == [tile_file_name(spec, t) for t in spec.tile_ids()]
        with h5py.File(paths[0]) as f:
            assert list(f.keys()) == [spec.site]
            refl = f[spec.site]["Reflectance"]
            assert set(refl.keys()) == {"Metadata", "Reflectance_Data"}
            assert list(refl.attrs["Band_Window_1_Nanometers"]) == [1340, 1445]
            d = refl["Reflectance_Data"]
            assert d.dtype == np.int16
            assert len(d.attrs) == 12
            e, n = (int(v) for v in spec.tile_ids()[0].split("_"))
            ext = spec.pixels * spec.pixel_size
            assert list(d.attrs["Spatial_Extent_meters"]) == [e, e + ext, n, n + ext]
            md = refl["Metadata"]
            assert set(md.keys()) >= {"Ancillary_Imagery", "Coordinate_System", "Logs", "Spectral_Data"}
            table = ANCILLARY_002 if spec.revision == "002" else ANCILLARY_001
            assert set(md["Ancillary_Imagery"].keys()) == set(table)
            mi = md["Coordinate_System/Map_Info"][()]
            assert isinstance(mi, bytes) and md["Coordinate_System/EPSG Code"][()] == str(spec.epsg).encode()
            # Map_Info carries the upper-left corner; the file name the lower-left.
            assert float(mi.split(b",")[4]) == n + ext
            wqi = md["Ancillary_Imagery/Weather_Quality_Indicator"]
            assert wqi.ndim == (2 if spec.revision == "002" else 3)
            # .002 by default as NEON's tutorial files: int16, -9999 outside the flight.
            assert wqi.dtype == (np.int16 if spec.revision == "002" else np.uint8)
            wl = md["Spectral_Data/Wavelength"]
            assert wl.dtype == (np.float64 if spec.revision == "002" else np.float32)
            assert wl.attrs["Units"] == "nanometers"
            if spec.revision == "002":
                assert len(md["Logs"]) == 3
            else:  # one Logs group per line contributing pixels, fewer than Data_Files lists
                dsi = md["Ancillary_Imagery/Data_Selection_Index"]
                files = dsi.attrs["Data_Files"].split(",")
                present = np.unique(dsi[()][dsi[()] >= 0])
                assert sorted(md["Logs"]) == sorted(files[v].split("_")[5] for v in present)
                assert len(files) > len(md["Logs"])


def test_cube_is_the_mixture_of_truth(site_002, tmp_path):
    spec, paths = site_002
    truth_dir = paths[0].parent / "truth"
    E_df = pd.read_csv(truth_dir / "endmembers.csv")
    assert list(E_df.columns) == ["wavelength_nm", *spec.materials]
    wl = wavelength_grid(spec.bands)
    np.testing.assert_allclose(E_df["wavelength_nm"], wl, atol=1e-3)
    E = E_df[list(spec.materials)].to_numpy().T
    tid = spec.tile_ids()[0]
    with rasterio.open(truth_dir / f"abundance_{tid}.tif") as src:
        A = src.read()
        assert src.transform.a == spec.pixel_size
    with NeonTile(paths[0]) as t:
        good = [i for i, w in enumerate(wl) if not (1340 <= w <= 1445 or 1790 <= w <= 1955)][:-10]
        cube = t.read_bands(good).astype(float) / 10000
        nodata = t.read_bands([0])[..., 0] == -9999
    valid = ~nodata
    assert np.all(np.isfinite(A[:, valid])) and np.all(np.isnan(A[:, nodata]))
    np.testing.assert_allclose(A[:, valid].sum(axis=0), 1.0, atol=1e-5)
    model = np.einsum("kyx,kb->yxb", np.nan_to_num(A), E[:, good])
    resid = (cube - model)[valid]
    assert abs(resid.mean()) < 1e-3
    assert resid.std() == pytest.approx(spec.noise, rel=0.2)
    # Water-vapour bands are mostly noise: far from the mixture model.
    wv = int(np.argmin(abs(wl - 1400)))
    with NeonTile(paths[0]) as t:
        band = t.read_bands([wv])[..., 0].astype(float) / 10000
    wv_resid = (band - np.einsum("kyx,k->yx", np.nan_to_num(A), E[:, wv]))[valid]
    assert wv_resid.std() > 5 * spec.noise


def test_scene_properties(site_002):
    spec, paths = site_002
    # Pure patches of every material exist.
    xs = np.linspace(spec.origin[0], spec.origin[0] + 1000 * spec.shape[0], 300)
    ys = np.linspace(spec.origin[1], spec.origin[1] + 1000 * spec.shape[1], 200)
    X, Y = np.meshgrid(xs, ys)
    A = abundances_at(spec, X, Y)
    for k in range(len(spec.materials)):
        assert (A[..., k] > 0.99).sum() > 10, spec.materials[k]
    # Abundances continue across tile borders: evaluated on both sides of a border they agree.
    x_border = spec.origin[0] + 1000.0
    left = abundances_at(spec, np.full(50, x_border - 0.01), ys[:50])
    right = abundances_at(spec, np.full(50, x_border + 0.01), ys[:50])
    np.testing.assert_allclose(left, right, atol=1e-3)
    # WQI has patches of 1, 2 and 3 and the flight-edge strip is no-data somewhere.
    codes, nodata_px = set(), 0
    for p in paths:
        with NeonTile(p) as t:
            w, _ = t.read_layer("Weather_Quality_Indicator")
            codes |= set(np.unique(w).tolist())
            nodata_px += int((t.read_bands([0]) == -9999).sum())
    assert {1, 2, 3} <= codes and nodata_px > 0
    # Water-vapour bands are noisy.
    wl = wavelength_grid(spec.bands)
    with NeonTile(paths[0]) as t:
        assert t.meta.band_windows[0] == (1340, 1445)


def test_spectra_are_physically_plausible():
    wl = wavelength_grid(426)
    E = endmember_spectra(["vegetation", "soil", "water"], wl)
    red, nir = np.argmin(abs(wl - 670)), np.argmin(abs(wl - 860))
    ndvi = (E[:, nir] - E[:, red]) / (E[:, nir] + E[:, red])
    assert ndvi[0] > 0.7 and 0 < ndvi[1] < 0.3 and ndvi[2] < 0
    assert E[2].mean() < 0.05  # water is dark
    assert np.all((E >= 0) & (E <= 1))


def test_bad_spec():
    with pytest.raises(ConfigError, match="demo.pixels"):
        tiny_spec(pixels=200, pixel_size=10.0).validate()
    with pytest.raises(ConfigError, match="demo.materials"):
        tiny_spec(materials=("vegetation", "lava")).validate()


def test_demo_002_wqi_is_signed_with_minus_9999(tmp_path):
    import h5py

    for dtype in ("int16", "int32"):
        spec = tiny_spec(revision="002", shape=(3, 1), wqi_dtype=dtype)
        tid = spec.tile_ids()[-1]  # the east tile holds the no-data flight edge
        h5 = write_tile(spec, tid, tmp_path / dtype)
        with h5py.File(h5) as f:
            raw = f[f"{spec.site}/Reflectance/Metadata/Ancillary_Imagery/Weather_Quality_Indicator"][()]
            cube0 = f[f"{spec.site}/Reflectance/Reflectance_Data"][:, :, 0]
        assert raw.dtype == np.dtype(dtype)
        assert set(np.unique(raw).tolist()) <= {-9999, 1, 2, 3}
        np.testing.assert_array_equal(raw == -9999, cube0 == -9999)
        assert (raw == -9999).any()
        with NeonTile(h5) as t:
            w, _ = t.read_layer("Weather_Quality_Indicator")
        np.testing.assert_array_equal(w == 0, raw == -9999)
    with pytest.raises(ConfigError, match="demo.wqi_dtype"):
        tiny_spec(wqi_dtype="uint8").validate()


def test_rare_patch_is_the_materials_only_pure_pixels():
    spec = tiny_spec(shape=(2, 1), pixels=40, pixel_size=25.0)
    tid = spec.tile_ids()[1]
    rare = tiny_spec(shape=(2, 1), pixels=40, pixel_size=25.0,
                     rare=(RarePatch("water", tid, row=5, col=7, size=4, max_mixed=0.7),))
    k = rare.materials.index("water")
    # Pixel centres of both tiles (rows from the north edge).
    for t in spec.tile_ids():
        e, n = (int(v) for v in t.split("_"))
        X, Y = np.meshgrid(e + (np.arange(40) + 0.5) * 25.0, n + 1000.0 - (np.arange(40) + 0.5) * 25.0)
        A, A0 = abundances_at(rare, X, Y), abundances_at(spec, X, Y)
        np.testing.assert_allclose(A.sum(axis=-1), 1.0, atol=1e-5)
        square = np.zeros((40, 40), dtype=bool)
        if t == tid:
            square[5:9, 7:11] = True
        assert np.all(A[square, k] == 1.0) and A[~square, k].max() <= 0.7 + 1e-6
        others = [m for m in range(len(spec.materials)) if m != k]
        # The other materials keep their pure discs where the square is not.
        np.testing.assert_array_equal(A[~square][:, others] > 0.99, A0[~square][:, others] > 0.99)
    with pytest.raises(ConfigError, match="rare patch"):
        tiny_spec(rare=(RarePatch("lava", tid),)).validate()
    with pytest.raises(ConfigError, match="inside"):
        tiny_spec(shape=(2, 1), rare=(RarePatch("water", tid, row=38, col=0),)).validate()


def test_001_flight_lines_view_angles_and_nadir_truth(tmp_path):
    """The .001 demo: nearest-to-nadir lines (view zenith up to 17 degrees, sensor side
    flipping at line boundaries), terrain, and a cube that departs from the nadir truth by the
    known anisotropy and illumination."""
    from aopflow.demo import flight
    from aopflow.demo.aop import generate_site

    spec = tiny_spec(revision="001", shape=(2, 1), pixels=40, pixel_size=25.0, bands=60)
    paths = generate_site(spec, tmp_path)
    lines, height = flight.flight_lines(spec)
    assert len(lines) == 6 and len({ln.date for ln in lines}) == 2  # 3 per tile column
    assert len({(ln.solar_zenith, ln.solar_azimuth) for ln in lines}) == 6
    with NeonTile(paths[0]) as t:
        geo = t.read_geometry()
        raw = t.read_bands(range(spec.bands)).astype(float)
    valid = geo.line >= 0
    vz = geo.view_zenith[valid]
    assert vz.max() <= 17.0 + 1e-4 and vz.max() > 14 and vz.min() < 2
    assert set(np.unique(geo.view_azimuth[valid])) == {90.0, 270.0}
    assert geo.slope[valid].max() > 10
    with rasterio.open(tmp_path / "truth" / f"nadir_{spec.tile_ids()[0]}.tif") as src:
        truth = np.moveaxis(src.read(), 0, -1).astype(float)
        assert src.tags()["solar_zenith"] == str(flight.REFERENCE_SOLAR_ZENITH)
    ratio = raw[valid][:, 20] / truth[valid][:, 20]
    assert 0.6 < np.median(ratio) < 1.4 and np.std(ratio) > 0.03  # anisotropic and lit unevenly
