"""One-pass pixel selection (aopflow.candidates): valid mask, streaming sample, skewer candidates."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import rasterio

from aopflow.candidates import SkewerCandidates, StreamingSample, reduction_bands
from aopflow.clean import CleanSpec, tile_good_bands, valid_mask
from aopflow.demo.aop import write_tile
from aopflow.neon.reader import NeonTile

from conftest import tiny_spec
from reference_clean import clean_pixels


@pytest.fixture(scope="module")
def tiles(tmp_path_factory):
    """The same 60 x 60 scene in both storage layouts, with a few partly no-data pixels."""
    tmp = tmp_path_factory.mktemp("cand")
    out = {}
    for chunks in ("band", "legacy"):
        spec = tiny_spec(shape=(1, 1), pixels=60, pixel_size=15.0, bands=150, chunks=chunks, seed=8)
        path = write_tile(spec, spec.tile_ids()[0], tmp / chunks, tmp / chunks / "truth")
        with h5py.File(path, "r+") as f:
            d = f[f"{spec.site}/Reflectance/Reflectance_Data"]
            d[3, 4, 20] = -9999  # one no-data band in a kept band: the pixel is no data
            d[5, 6, 30] = -12000  # below no-data but not no-data: the pixel stays valid
        out[chunks] = path
    return out


def _blocks(path, target_mb):
    with NeonTile(path) as t:
        bands = tile_good_bands(t.meta, CleanSpec())
        for sl, raw in t.iter_blocks(bands, target_mb=target_mb):
            yield t.meta, sl, raw


def test_valid_mask_is_the_cleaning_rule(tiles):
    for path in tiles.values():
        masks = []
        for meta, sl, raw in _blocks(path, 0.05):
            got = valid_mask(raw, meta.nodata)
            want = ~np.any(np.ascontiguousarray(raw) == meta.nodata, axis=-1)  # the rule, literally
            np.testing.assert_array_equal(got, want)
            np.testing.assert_array_equal(clean_pixels(raw, meta.nodata, meta.scale_factor)[1], want)
            masks.append(got)
        mask = np.concatenate(masks)
        assert not mask[3, 4] and mask[5, 6] and 0 < mask.sum() < mask.size  # and the no-data strip


def _all_reduced(path):
    """Reduced coordinates (m, d) and tile positions of every valid pixel, by brute force."""
    with NeonTile(path) as t:
        meta = t.meta
        bands = tile_good_bands(meta, CleanSpec())
        X, valid = clean_pixels(t.read_bands(bands), meta.nodata, meta.scale_factor)
    sel, d, w = reduction_bands(bands.size)
    return X, X[:, sel].reshape(-1, d, w).sum(axis=2), np.flatnonzero(valid.ravel())


def _run(cls_args, path, target_mb, seed=5):
    sel = None
    for meta, sl, raw in _blocks(path, target_mb):
        if sel is None:
            sel = cls_args(raw.shape[-1], meta.scale_factor, seed)
        sel.update(raw, valid_mask(raw, meta.nodata), sl.start * meta.cols)
    return sel


def test_skewer_extremes_are_the_tiles_extremes_for_any_blocks_and_layout(tiles):
    make = lambda b, s, seed: SkewerCandidates(b, 60, scale=s, nodata=-9999.0, seed=seed)  # noqa: E731
    results = {(lay, mb): _run(make, p, mb) for lay, p in tiles.items() for mb in (0.02, 0.3, 64)}
    ref = results[("band", 64)]
    X, Y, pos = _all_reduced(tiles["band"])
    # Brute force: every skewer's max and min over all valid pixels of the tile (first on ties).
    Z = Y @ (ref._skewers.astype(np.float64) * ref.w * ref.scale).T
    want = np.unique(pos[np.r_[Z.argmax(axis=0), Z.argmin(axis=0)]])
    for key, sk in results.items():
        spectra, cpos = sk.result()
        assert sk.n_skewers == 30 and spectra.shape == (cpos.size, X.shape[1]) <= (60, X.shape[1])
        np.testing.assert_array_equal(cpos, want, err_msg=str(key))
        np.testing.assert_array_equal(spectra, X[np.searchsorted(pos, cpos)])  # the pixels' own spectra
        assert spectra.dtype == np.float32


def test_candidates_hold_every_material_pure_in_the_tile(tiles):
    # Each material's pure pixels are a vertex of the data simplex: some skewers end there.
    sk = _run(lambda b, s, seed: SkewerCandidates(b, 200, scale=s, nodata=-9999.0, seed=seed), tiles["legacy"], 0.3)
    _, cpos = sk.result()
    tile_id = tiny_spec(shape=(1, 1)).tile_ids()[0]
    with rasterio.open(tiles["legacy"].parent / "truth" / f"abundance_{tile_id}.tif") as src:
        A = src.read().reshape(src.count, -1)  # (materials, pixels), NaN = no data
    pure = np.nan_to_num(A) > 0.97
    present = np.flatnonzero(pure.any(axis=1))
    assert present.size >= 4
    for m in present:
        assert pure[m, cpos].any(), f"material {m}: no pure candidate among {cpos.size}"


def test_streaming_sample_is_uniform_reproducible_and_block_independent(tiles):
    make = lambda b, s, seed: StreamingSample(400, b, scale=s, nodata=-9999.0, seed=seed)  # noqa: E731
    X, _, pos = _all_reduced(tiles["band"])
    got = {}
    for lay, p in tiles.items():
        for mb in (0.02, 64):
            smp = _run(make, p, mb)
            pix, ppos = smp.result()
            assert smp.n_valid == pos.size and pix.shape == (400, X.shape[1]) and pix.dtype == np.float32
            np.testing.assert_array_equal(pix, X[np.searchsorted(pos, ppos)])
            got[lay, mb] = ppos
    first = got["band", 64]
    assert all(np.array_equal(first, v) for v in got.values())
    assert np.all(np.diff(first) > 0) and np.isin(first, pos).all()
    # Another seed, another sample; over many seeds every valid pixel is equally likely.
    assert not np.array_equal(first, _run(lambda b, s, seed: make(b, s, 6), tiles["band"], 64).result()[1])
    counts = np.zeros(3600)
    for seed in range(40):
        smp = _run(lambda b, s, _: StreamingSample(400, b, scale=s, nodata=-9999.0, seed=seed),  # noqa: B023
                   tiles["band"], 64)
        counts[smp.result()[1]] += 1
    share = counts[pos] / 40  # expected 400 / n_valid per pixel
    assert abs(share.mean() - 400 / pos.size) < 1e-12 and counts[np.setdiff1d(np.arange(3600), pos)].sum() == 0
    assert share.std() < 2.5 * np.sqrt(400 / pos.size / 40)  # binomial spread, no structure


def test_small_samples_and_empty_blocks():
    raw = np.full((2, 3, 5), -9999, dtype=np.int16)
    valid = valid_mask(raw, -9999.0)
    kw = dict(scale=1e4, nodata=-9999.0, seed=0)
    smp, sk = StreamingSample(10, 5, **kw), SkewerCandidates(5, 10, **kw)
    smp.update(raw, valid, 0)
    sk.update(raw, valid, 0)
    assert smp.result()[0].shape == (0, 5) and sk.result()[0].shape == (0, 5) and smp.n_valid == 0
    raw[0, 1] = [100, 200, 300, 400, 500]
    valid = valid_mask(raw, -9999.0)
    smp.update(raw, valid, 6)
    sk.update(raw, valid, 6)
    (p, pos), (c, cpos) = smp.result(), sk.result()
    assert pos.tolist() == [7] and cpos.tolist() == [7]
    np.testing.assert_allclose(p[0], [0.01, 0.02, 0.03, 0.04, 0.05], rtol=1e-6)
    assert reduction_bands(5)[1:] == (5, 1)  # fewer bands than reduced dimensions
    # Screened on band 0 only: a pixel with a no-data band elsewhere passes the screen (it is
    # the brightest, so every skewer's maximum) but is dropped when its spectrum is read.
    raw = np.array([[[100, 100, 100, 100, 100], [9000, 9000, -9999, 9000, 9000], [50, 60, 70, 80, 90]]], np.int16)
    valid = valid_mask(raw, -9999.0, bands=[0])
    assert valid.tolist() == [[True, True, True]] and valid_mask(raw, -9999.0).tolist() == [[True, False, True]]
    smp, sk = StreamingSample(10, 5, **kw), SkewerCandidates(5, 10, **kw)
    smp.update(raw, valid, 0)
    sk.update(raw, valid, 0)
    assert smp.result()[1].tolist() == [0, 2] and 1 not in sk.result()[1].tolist()
    for lay in ("band", "pixel"):  # both layouts screen the same bands
        r = raw if lay == "pixel" else np.moveaxis(np.ascontiguousarray(np.moveaxis(raw, -1, 0)), 0, -1)
        assert valid_mask(r, -9999.0, bands=[2]).tolist() == [[True, False, True]]
