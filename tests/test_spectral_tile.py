"""The spectral stage on NEON-format tiles: cleaning, sampling, site endmembers, the per-tile chain."""

from __future__ import annotations

import logging

import h5py
import numpy as np
import pandas as pd
import pytest
import rasterio
from scipy.optimize import linear_sum_assignment

from aopflow.clean import CleanSpec, good_bands
from aopflow.errors import ConfigError
from aopflow.demo.aop import generate_site, wavelength_grid, write_tile
from aopflow.spectral import classify, read_endmember_csv, sam, sid, write_endmember_csv
from aopflow.stages.spectral import classify_scores, ndvi_tile, sample_tile, site_endmembers, spectral_tile

from conftest import tiny_spec


def test_cleaning_removes_exactly_the_window_bands():
    wl = np.array([1000.0, 1339.9, 1340.0, 1400.0, 1445.0, 1445.1, 1789.0, 1790.0, 1955.0, 1956.0, 2000, 2100, 2200])
    idx = good_bands(wl, CleanSpec(drop_last=2), [(1340, 1445), (1790, 1955)])
    assert list(idx) == [0, 1, 5, 6, 9, 10]
    assert list(good_bands(wl, CleanSpec(drop_last=0, band_step=2), [(1340, 1445), (1790, 1955)])) == [0, 5, 9, 11]
    # Config windows override the file's.
    assert list(good_bands(wl, CleanSpec(windows=((1000, 1400),), drop_last=0), [(1, 2)])) == [4, 5, 6, 7, 8, 9, 10, 11, 12]
    with pytest.raises(ConfigError, match="clean.windows"):
        CleanSpec.from_config({"windows": [[1500, 1400]]})
    # The NEON grid: 54 window bands + last 10 -> 362 kept of 426.
    assert good_bands(wavelength_grid(426), CleanSpec(), [(1340, 1445), (1790, 1955)]).size == 362


def _run_site(spec, tmp, n=None, method="nfindr", sample=3000, unmix="fcls"):
    paths = generate_site(spec, tmp / "h5")
    samples = [sample_tile(p, tmp / f"s_{t}.npz", tile_id=t, n_samples=sample, seed=1)
               for p, t in zip(paths, spec.tile_ids())]
    em = site_endmembers(samples, tmp / "endmembers.csv", method=method, n=n or len(spec.materials), seed=0)
    outs = {}
    for p, t in zip(paths, spec.tile_ids()):
        outs[t] = spectral_tile(p, em, tile_id=t, abundance_path=tmp / f"a_{t}.tif", sam_path=tmp / f"sam_{t}.tif",
                                sid_path=tmp / f"sid_{t}.tif", unmix_method=unmix, threads=2, block_mb=2)
    return paths, em, outs


@pytest.fixture(scope="module")
def demo_chain(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("chain")
    spec = tiny_spec(shape=(2, 2), pixels=50, pixel_size=20.0, bands=426, seed=42)
    return spec, tmp, *_run_site(spec, tmp)


def test_demo_site_materials_are_recovered(demo_chain):
    spec, tmp, paths, em, outs = demo_chain
    wl, E, names = read_endmember_csv(em)
    truth = pd.read_csv(tmp / "h5" / "truth" / "endmembers.csv")
    T = np.array([np.interp(wl, truth["wavelength_nm"], truth[m]) for m in spec.materials])
    ang = sam(T.astype(np.float32), E.astype(np.float32))  # (materials, endmembers)
    rmse = np.sqrt(((T[:, None, :] - E[None, :, :]) ** 2).mean(axis=2))
    # Dark materials: the angle is dominated by noise, so judge them by RMSE.
    dark = T.mean(axis=1) < 0.05
    cost = np.where(dark[:, None], rmse / 0.015, ang / 0.1)
    rows, cols = linear_sum_assignment(cost)
    for m, e in zip(rows, cols):
        if dark[m]:
            assert rmse[m, e] <= 0.015, (spec.materials[m], rmse[m, e])
        else:
            assert ang[m, e] <= 0.1, (spec.materials[m], ang[m, e])
    # Abundance RMSE against the truth (endmembers permuted to materials).
    errs = []
    for t in spec.tile_ids():
        with rasterio.open(outs[t]["abundance"]) as a, rasterio.open(tmp / "h5" / "truth" / f"abundance_{t}.tif") as tr:
            A, At = a.read(), tr.read()
            assert a.transform == tr.transform and a.count == len(names)
        valid = np.isfinite(At[0])
        assert np.array_equal(valid, np.isfinite(A[0]))
        errs.append((A[cols][:, valid] - At[rows][:, valid]).ravel())
    rmse_a = float(np.sqrt(np.mean(np.concatenate(errs) ** 2)))
    assert rmse_a < 0.05, rmse_a


def test_chain_outputs_are_consistent(demo_chain):
    spec, tmp, paths, em, outs = demo_chain
    t = spec.tile_ids()[0]
    with rasterio.open(outs[t]["abundance"]) as a:
        A = a.read()
    valid = np.isfinite(A[0])
    assert np.all(A[:, valid] >= 0)
    np.testing.assert_allclose(A[:, valid].sum(axis=0), 1.0, atol=1e-5)
    # The SAM/SID best-class rasters agree with classify() on full scores from the same pixels.
    from aopflow.neon.reader import NeonTile
    from aopflow.clean import clean_pixels, tile_good_bands

    wl, E, _ = read_endmember_csv(em)
    with NeonTile(paths[0]) as tile:
        bands = tile_good_bands(tile.meta, CleanSpec())
        X, mask = clean_pixels(tile.read_bands(bands), tile.meta.nodata, tile.meta.scale_factor)
    for key, fn, thr in (("sam", sam, 0.05), ("sid", sid, 0.002)):
        full = fn(X, E.astype(np.float32))
        classes = classify_scores(outs[t][key], tmp / f"{key}_cls.tif", thresholds=thr, key=f"classify.{key}")
        with rasterio.open(classes) as src:
            got = src.read(1)
            assert src.nodata == 255
        np.testing.assert_array_equal(got[mask], classify(full, thr))
        assert np.all(got[~mask] == 255)
        assert 0 < (got[mask] == 0).sum() < mask.sum()  # the threshold bites, but not everywhere


def test_threshold_list_must_match_endmembers(demo_chain):
    spec, tmp, paths, em, outs = demo_chain
    t = spec.tile_ids()[0]
    with pytest.raises(ConfigError, match=r"classify.sam_max_angle must be a number or a list of 5 numbers"):
        classify_scores(outs[t]["sam"], tmp / "x.tif", thresholds=[0.1, 0.2], key="classify.sam_max_angle")
    # Per-class thresholds: as pysptools, the best class among those within their own threshold.
    per_class = classify_scores(outs[t]["sam"], tmp / "y.tif", thresholds=[0.01, 0.2, 0.2, 0.2, 0.2], key="k")
    with rasterio.open(outs[t]["sam"]) as src:
        sc = src.read().reshape(5, -1).T
    ok = ~np.all(np.isnan(sc), axis=1)
    with rasterio.open(per_class) as src:
        np.testing.assert_array_equal(src.read(1).ravel()[ok], classify(sc[ok], [0.01, 0.2, 0.2, 0.2, 0.2]))


def test_layouts_and_threads_give_identical_products(tmp_path):
    spec_b = tiny_spec(shape=(1, 1), pixels=40, bands=150, chunks="band")
    spec_l = tiny_spec(shape=(1, 1), pixels=40, bands=150, chunks="legacy")
    t = spec_b.tile_ids()[0]
    hb = write_tile(spec_b, t, tmp_path / "b")
    hl = write_tile(spec_l, t, tmp_path / "l")
    s = sample_tile(hb, tmp_path / "s.npz", tile_id=t, n_samples=500)
    em = site_endmembers([s], tmp_path / "em.csv", method="atgp", n=4)
    ob = spectral_tile(hb, em, tile_id=t, abundance_path=tmp_path / "ab.tif", sam_path=tmp_path / "sb.tif",
                       sid_path=tmp_path / "db.tif", threads=1)
    ol = spectral_tile(hl, em, tile_id=t, abundance_path=tmp_path / "al.tif", sam_path=tmp_path / "sl.tif",
                       sid_path=tmp_path / "dl.tif", threads=2, block_mb=0.5)
    for k in ob:
        with rasterio.open(ob[k]) as a, rasterio.open(ol[k]) as b:
            np.testing.assert_allclose(a.read(), b.read(), rtol=1e-5, atol=2e-6, equal_nan=True)


def test_sample_is_reproducible_and_valid(site_002, tmp_path):
    spec, paths = site_002
    t = spec.tile_ids()[-1]  # the east tile has the no-data strip
    a = sample_tile(paths[-1], tmp_path / "a.npz", tile_id=t, n_samples=300, seed=4)
    b = sample_tile(paths[-1], tmp_path / "b.npz", tile_id=t, n_samples=300, seed=4)
    with np.load(a) as za, np.load(b) as zb:
        np.testing.assert_array_equal(za["pixels"], zb["pixels"])
        assert za["pixels"].shape == (300, good_bands(wavelength_grid(spec.bands), CleanSpec(), [(1340, 1445), (1790, 1955)]).size)
        assert za["pixels"].dtype == np.float32
        assert np.all(za["pixels"] > -0.5)  # no -9999 / scale leaked in


def test_all_nodata_tile_gives_nodata_outputs_and_a_warning(tmp_path, caplog):
    spec = tiny_spec(shape=(1, 1), pixels=20, bands=100)
    t = spec.tile_ids()[0]
    h5 = write_tile(spec, t, tmp_path)
    s_ok = sample_tile(h5, tmp_path / "ok.npz", tile_id=t, n_samples=200)
    with h5py.File(h5, "r+") as f:
        d = f[f"{spec.site}/Reflectance/Reflectance_Data"]
        d[...] = -9999
    with caplog.at_level(logging.WARNING):
        s = sample_tile(h5, tmp_path / "s.npz", tile_id=t, n_samples=200)
        em = site_endmembers([s, s_ok], tmp_path / "em.csv", method="atgp", n=3)
        out = spectral_tile(h5, em, tile_id=t, abundance_path=tmp_path / "a.tif", sam_path=tmp_path / "s.tif",
                            sid_path=tmp_path / "d.tif")
        cls = classify_scores(out["sam"], tmp_path / "c.tif", thresholds=None, key="k")
        nd = ndvi_tile(h5, tmp_path / "n.tif")
    assert "no valid pixels" in caplog.text and "entirely no-data" in caplog.text
    with rasterio.open(out["abundance"]) as a, rasterio.open(cls) as c, rasterio.open(nd) as n:
        assert np.all(np.isnan(a.read())) and np.all(c.read() == 255) and np.all(np.isnan(n.read()))


def test_library_and_endmember_count_errors(site_002, tmp_path):
    spec, paths = site_002
    t = spec.tile_ids()[0]
    s = sample_tile(paths[0], tmp_path / "s.npz", tile_id=t, n_samples=50)
    with pytest.raises(ConfigError, match="endmembers.n"):
        site_endmembers([s], tmp_path / "em.csv", method="nfindr", n=60)
    lib = tmp_path / "lib.csv"
    write_endmember_csv(lib, np.array([400.0, 900.0, 1500.0]), np.ones((2, 3)) * 0.2, ["grass", "road"])
    with pytest.raises(ConfigError, match="endmembers.library"):
        site_endmembers([s], tmp_path / "em.csv", library=str(lib))
    assert not (tmp_path / "em.csv").exists()
    # A library covering the bands is resampled to the image's kept bands.
    write_endmember_csv(lib, np.array([300.0, 1500.0, 2600.0]), np.array([[0.1, 0.3, 0.2], [0.2, 0.2, 0.2]]), ["grass", "road"])
    em = site_endmembers([s], tmp_path / "em.csv", library=str(lib))
    wl, E, names = read_endmember_csv(em)
    assert names == ["grass", "road"] and E.shape == (2, wl.size)
    np.testing.assert_allclose(E[1], 0.2)


def test_ndvi_matches_hand_computation(site_002, tmp_path):
    spec, paths = site_002
    out = ndvi_tile(paths[0], tmp_path / "ndvi.tif", red_nm=660, nir_nm=860)
    from aopflow.neon.reader import NeonTile

    with NeonTile(paths[0]) as t, rasterio.open(out) as src:
        r, n = t.meta.nearest_bands([660, 860])
        raw = t.read_bands([r, n]).astype(float)
        got = src.read(1)
    expect = (raw[..., 1] - raw[..., 0]) / (raw[..., 1] + raw[..., 0])
    np.testing.assert_allclose(got, expect, rtol=1e-5)
