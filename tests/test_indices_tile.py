"""The NDVI job's one read also writes the indices' band extract and AOP in the Sentinel-2
bands; the per-index jobs and the Sentinel-2 index jobs (aopflow.stages.indices)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import rasterio

from aopflow.clean import CleanSpec, tile_good_bands
from aopflow.demo.aop import SiteSpec, write_tile
from aopflow.indices import band_symbols, compute_index, index_spec
from aopflow.indices.srf import response, srf_weights
from aopflow.neon.reader import NeonTile
from aopflow.raster import write_geotiff
from aopflow.stages.indices import index_tile, s2_index_date
from aopflow.stages.spectral import ndvi_tile


@pytest.fixture(scope="module")
def tile(tmp_path_factory):
    root = tmp_path_factory.mktemp("tile")
    spec = SiteSpec(shape=(1, 1), pixels=40, pixel_size=25.0, bands=426, seed=3)
    t = spec.tile_ids()[0]
    h5 = write_tile(spec, t, root)
    with h5py.File(h5, "r+") as f:  # a no-data pixel and a negative (noisy dark) value
        d = f[f"{spec.site}/Reflectance/Reflectance_Data"]
        d[0, 0, :] = -9999
    out = {k: root / f"{k}.tif" for k in ("ndvi", "symbols", "s2")}
    ndvi_tile(h5, out["ndvi"], tile_id=t, index_bands_path=out["symbols"], s2_bands_path=out["s2"],
              s2_assets=["red", "nir", "swir16"], clean=None)
    with NeonTile(h5) as nt:
        meta = nt.meta
        cube = nt.read_bands(list(range(meta.bands)))
    return h5, out, meta, cube, root


def test_band_extract_is_the_nearest_cleaned_band_in_reflectance(tile):
    h5, out, meta, cube, _ = tile
    kept = tile_good_bands(meta, CleanSpec.from_config(None))
    with rasterio.open(out["symbols"]) as src:
        tags = src.tags()
        data = src.read()
    syms = tags["symbols"].split(",")
    assert syms == list(band_symbols())
    for k, s in enumerate(syms):
        lo, hi = band_symbols()[s]
        b = int(kept[np.argmin(np.abs(meta.wavelengths[kept] - (lo + hi) / 2))])
        assert float(tags["wavelengths_nm"].split(",")[k]) == pytest.approx(meta.wavelengths[b], abs=0.01)
        np.testing.assert_array_equal(data[k], cube[..., b])  # the raw DNs, exact
    assert float(tags["scale_factor"]) == meta.scale_factor == 10000


def test_s2_layers_are_nearest_and_srf_weighted_reflectance(tile):
    h5, out, meta, cube, _ = tile
    kept = tile_good_bands(meta, CleanSpec.from_config(None))
    refl = cube.astype(np.float64) / meta.scale_factor
    with rasterio.open(out["s2"]) as src:
        names = src.tags()["layers"].split(",")
        data = src.read()
    assert names[:3] == ["nearest_red", "nearest_nir", "nearest_swir16"]
    for sensor in ("S2A", "S2B"):
        for asset in ("red", "nir", "swir16"):
            idx, w = srf_weights(meta.wavelengths, kept, *response(sensor, asset))
            want = refl[..., idx] @ w
            got = data[names.index(f"srf_{sensor}_{asset}")]
            nod = (cube[..., idx] == meta.nodata).any(axis=-1)
            assert nod[0, 0] and np.isnan(got[nod]).all()
            np.testing.assert_allclose(got[~nod], want[~nod], rtol=1e-4, atol=1e-6)
    # nearest red: the AOP band nearest B04's centre (665 nm)
    b = int(kept[np.argmin(np.abs(meta.wavelengths[kept] - 664.6))])
    ok = cube[..., b] != meta.nodata
    np.testing.assert_allclose(data[0][ok], refl[..., b][ok], rtol=1e-5)


@pytest.mark.parametrize("name", ["NDVI", "EVI", "PRI", "NMDI", "WBI"])
def test_index_tile_from_the_extract(tile, name):
    h5, out, meta, cube, root = tile
    p = index_tile(out["symbols"], root / f"index_{name}.tif", index=name)
    with rasterio.open(out["symbols"]) as src:
        syms = src.tags()["symbols"].split(",")
        bands = {s: src.read(syms.index(s) + 1).astype(np.float32) for s in syms}
    for a in bands.values():
        a[a == meta.nodata] = np.nan
        a /= meta.scale_factor  # reflectance: EVI's L = 1 assumes it
    assert 0.0 < np.nanmedian(bands["N"]) < 1.0
    want = compute_index(index_spec(name), bands)
    with rasterio.open(p) as src:
        got = src.read(1)
        assert src.tags()["index"] == name and src.descriptions == (name,)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, equal_nan=True)  # DN/1e4 vs DN*1e-4
    assert np.isnan(got[0, 0]) and np.isfinite(got).sum() > 1000  # the demo tile has a no-data corner


def test_ndvi_index_of_the_tile_follows_the_ndvi_rule(tile):
    _, out, _, _, root = tile
    p = index_tile(out["symbols"], root / "index_NDVI.tif", index="NDVI")
    with rasterio.open(p) as src:
        v = src.read(1)
    assert np.nanmin(v) >= -1 and np.nanmax(v) <= 1


def test_s2_index_date_uses_the_assets_and_says_why_not(tmp_path):
    rng = np.random.default_rng(2)
    refl = rng.uniform(0, 0.5, (3, 20, 20)).astype(np.float32)
    refl[0, 0, 0] = -0.01  # red negative: no data
    from affine import Affine

    path = write_geotiff(tmp_path / "reflectance.tif", refl, crs=32611,
                         transform=Affine(10, 0, 500000, 0, -10, 4101000), nodata=float("nan"),
                         band_names=["red", "nir", "blue"])
    d = tmp_path / "2024-06-15"
    d.mkdir()
    out = s2_index_date(path, d / "index_EVI.tif", index="EVI", assets=["red", "nir", "blue"])
    with rasterio.open(out) as src:
        got = src.read(1)
    want = compute_index(index_spec("EVI"), {"R": refl[0], "N": refl[1], "B": refl[2]})
    np.testing.assert_allclose(got, want, rtol=1e-6, equal_nan=True)
    assert np.isnan(got[0, 0])
    from aopflow.errors import InputDataError

    with pytest.raises(InputDataError, match="swir16"):
        s2_index_date(path, d / "index_NDII.tif", index="NDII", assets=["red", "nir", "blue"])


def test_a_symbol_the_sensor_lacks_fails_only_the_indices_that_need_it(tmp_path):
    # A coarse sensor (60 bands, ~36 nm apart): WBI's narrow 900 nm band has none within 10 nm.
    from aopflow.errors import InputDataError

    spec = SiteSpec(shape=(1, 1), pixels=20, pixel_size=50.0, bands=60, seed=4)
    t = spec.tile_ids()[0]
    h5 = write_tile(spec, t, tmp_path)
    ndvi_tile(h5, tmp_path / "n.tif", tile_id=t, index_bands_path=tmp_path / "bs.tif")
    with rasterio.open(tmp_path / "bs.tif") as src:
        missing = src.tags()["missing_symbols"].split(",")
    assert "R900" in missing and "N" not in missing
    index_tile(tmp_path / "bs.tif", tmp_path / "ndvi_i.tif", index="NDVI")
    with pytest.raises(InputDataError, match="no band for R900"):
        index_tile(tmp_path / "bs.tif", tmp_path / "wbi.tif", index="WBI")


def test_band_rows_compare_through_the_dates_sensor(tmp_path):
    """compare_bands on hand-made rasters: Sentinel-2 reflectance = the block means of the AOP
    srf_S2A layer, so srf through S2A (and S2C, which falls back to S2A) fits exactly."""
    from affine import Affine

    from aopflow.sentinel2.compare_bands import band_rows

    rng = np.random.default_rng(5)
    aop_t = Affine(1, 0, 500000, 0, -1, 4101000)
    s2_t = Affine(10, 0, 500000, 0, -10, 4101000)
    layers = {}
    for asset in ("red", "nir"):
        base = rng.uniform(0.02, 0.5, (100, 100)).astype(np.float32)
        layers[f"nearest_{asset}"] = base + rng.normal(0, 0.02, base.shape).astype(np.float32)
        layers[f"srf_S2A_{asset}"] = base
        layers[f"srf_S2B_{asset}"] = base * 0.9
    names = list(layers)
    aop = write_geotiff(tmp_path / "s2_bands.tif", np.stack([layers[n] for n in names]), crs=32611,
                        transform=aop_t, nodata=float("nan"), band_names=names,
                        tags={"layers": ",".join(names)})
    means = {a: layers[f"srf_S2A_{a}"].reshape(10, 10, 10, 10).mean(axis=(1, 3)) for a in ("red", "nir")}
    refl = write_geotiff(tmp_path / "reflectance.tif", np.stack([means["red"], means["nir"]]),
                         crs=32611, transform=s2_t, nodata=float("nan"), band_names=["red", "nir"])
    for sensor in ("S2A", "S2C"):
        rows = band_rows(aop, refl, assets=["red", "nir"], sensor=sensor, indices=["NDVI", "EVI"])
        by = {(r["quantity"], r["name"], r["aop_bands"]): r for r in rows}
        assert set(by) == {(q, n, k) for q, n in [("band", "red"), ("band", "nir"), ("index", "NDVI")]
                           for k in ("srf", "nearest")}  # EVI needs blue: not compared
        for key, r in by.items():
            assert r["n"] == 100 and r["srf_of"] == ("S2A" if key[2] == "srf" else "")
            if key[2] == "srf":
                assert r["r2"] == pytest.approx(1.0, abs=1e-6) and abs(r["bias"]) < 1e-6
            else:
                assert r["r2"] < 0.999
    rows = band_rows(aop, refl, assets=["red", "nir"], sensor="S2B")
    red = next(r for r in rows if r["name"] == "red" and r["aop_bands"] == "srf")
    assert red["srf_of"] == "S2B" and red["slope"] == pytest.approx(1 / 0.9, rel=1e-4)
