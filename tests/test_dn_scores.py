"""The chain's fused kernel (aopflow.spectral.dn_scores) against the reference functions."""

from __future__ import annotations

import numpy as np
import pytest

from aopflow.errors import InputDataError
from aopflow.spectral import sam, sid
from aopflow.spectral.dn_scores import DnScorer, pixel_matrix, valid_columns, valid_runs


def _data(dtype=np.int16, n_pix=1500, bands=123, seed=3, low=-3):
    rng = np.random.default_rng(seed)
    E = (rng.random((5, bands)) * 0.4 + 0.02).astype(np.float32)
    dn = (rng.random((n_pix, bands)) * 4000 + rng.integers(low, 6, (n_pix, bands))).astype(dtype)
    return E, dn


def _check(scorer, dn, E, scale, band_axis, keep=None, runs=None):
    arr = dn if band_axis == 1 else np.ascontiguousarray(dn.T)
    b, a, d = scorer(arr, band_axis, runs)
    ref = dn if keep is None else dn[keep]
    X = ref / scale  # float64 reflectance: the reference the kernel must equal
    np.testing.assert_allclose(b, X @ E.astype(np.float64).T, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(a, sam(X, E))
    np.testing.assert_allclose(d, sid(X, E), rtol=2e-7, atol=1e-9)
    assert b.shape == a.shape == d.shape == (ref.shape[0], E.shape[0])


@pytest.mark.parametrize("band_axis", [0, 1])
@pytest.mark.parametrize("low", [-3, 1])  # values below the SID floor (clipped) or not
def test_equals_reference_functions_in_both_layouts(band_axis, low):
    E, dn = _data(low=low)
    _check(DnScorer(E, 10000.0, sub_block=97), dn, E, 10000.0, band_axis)


@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.uint16])
def test_sid_equals_sid_of_float32_reflectance(dtype):
    # The kernel's SID from the cube's integers (a log table) must be sid() of the float32
    # reflectance dn / scale, including values at or below the floor (0, negatives), and ~0
    # for pixels equal to an endmember.
    E, dn = _data(np.int32, n_pix=3000, low=-3 if np.dtype(dtype).kind == "i" else 1)
    dn = np.vstack([dn, np.rint(E * 10000)]).astype(dtype)
    dn[50:60, 3] = 0
    E = dn[-5:] / 10000.0
    ref = sid(dn.astype(np.float32) / np.float32(10000), E)
    got = DnScorer(E, 10000.0)(dn, 1)[2]
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=2e-6, atol=1e-8)
    np.testing.assert_allclose(np.diag(got[-5:]), 0.0, atol=1e-6)


def test_runs_pick_the_same_pixels_as_a_copy():
    E, dn = _data()
    valid = np.random.default_rng(0).random(dn.shape[0]) > 0.2
    runs = valid_runs(valid)
    assert runs[:, 0].tolist() == [i for i in range(valid.size) if valid[i] and (i == 0 or not valid[i - 1])]
    for band_axis in (0, 1):
        _check(DnScorer(E, 10000.0, sub_block=64), dn, E, 10000.0, band_axis, keep=valid, runs=runs)
    np.testing.assert_array_equal(valid_columns(dn, valid, 1), dn[valid])
    np.testing.assert_array_equal(valid_columns(dn.T, valid, 0), dn[valid].T)


def test_int32_other_scale_and_values_too_large_for_the_table():
    E, dn = _data(np.int32)
    _check(DnScorer(E, 5000.0), dn, E, 5000.0, 1)
    dn[0, 0] = 3_000_000  # beyond 2^20: the logarithm per value instead of the table
    _check(DnScorer(E, 5000.0), dn, E, 5000.0, 1)
    dn += 2_000_000  # a narrow range, but far from zero: also per value
    _check(DnScorer(E, 5000.0), dn, E, 5000.0, 1)


@pytest.mark.parametrize(("shift", "low"), [(-4100, -3), (-2000, -3), (0, 1)])  # all negative, both signs, all positive
def test_the_wrapped_log_table_holds_every_value_of_either_sign(shift, low):
    E, dn = _data(low=low)
    dn = (dn + shift).astype(np.int16)
    assert (dn.max() < 0) == (shift == -4100) and (dn.min() < 0) == (shift != 0)
    for band_axis in (0, 1):
        _check(DnScorer(E, 10000.0, sub_block=200), dn, E, 10000.0, band_axis)


def test_empty_and_bad_input():
    E, dn = _data()
    b, a, d = DnScorer(E, 10000.0)(dn[:0], 1)
    assert b.shape == a.shape == d.shape == (0, 5)
    with pytest.raises(InputDataError, match="integer"):
        DnScorer(E, 10000.0)(dn.astype(np.float32), 1)
    with pytest.raises(InputDataError, match="bands"):
        DnScorer(E, 10000.0)(dn[:, :10], 1)


def test_pixel_matrix_is_a_view_for_both_reader_layouts():
    cube = np.arange(4 * 6 * 7, dtype=np.int16).reshape(4, 6, 7)  # (bands, rows, cols)
    block = np.moveaxis(cube[:, 2:5, :], 0, -1)  # how iter_blocks hands out a band-major block
    m, axis = pixel_matrix(block)
    assert axis == 0 and np.shares_memory(m, cube)
    np.testing.assert_array_equal(m.T, block.reshape(-1, 4))
    pm = np.ascontiguousarray(block)
    m, axis = pixel_matrix(pm)
    assert axis == 1 and np.shares_memory(m, pm)
    np.testing.assert_array_equal(m, block.reshape(-1, 4))
    odd = block[:, ::2]  # neither layout: copied
    m, axis = pixel_matrix(odd)
    assert axis == 1 and not np.shares_memory(m, cube)
    np.testing.assert_array_equal(m, odd.reshape(-1, 4))
