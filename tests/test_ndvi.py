"""aopflow.ndvi: the one NDVI rule, on hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from aopflow.errors import InputDataError
from aopflow.ndvi import check_ndvi_range, normalized_difference


def test_hand_computed_cases():
    nir = np.array([0.5, 0.002, -0.01, 0.0, 0.3, 0.0, 0.45, np.nan, np.inf], np.float32)
    red = np.array([0.1, -0.005, 0.05, 0.0, 0.0, 0.2, 0.05, 0.1, 0.1], np.float32)
    got = normalized_difference(nir, red)
    assert got.dtype == np.float32 and got.shape == (9,)
    assert got[0] == np.float32(0.4) / np.float32(0.6)  # normal: 0.4 / 0.6 = 0.6667
    # Negative red: the plain ratio would be 0.007 / -0.003 = -2.33; no data instead.
    assert np.isnan(got[1])
    assert np.isnan(got[2])  # negative NIR
    assert np.isnan(got[3])  # both zero: 0 / 0
    assert got[4] == 1.0 and got[5] == -1.0  # one zero: the exact bounds, valid
    assert got[6] == pytest.approx(0.8, abs=1e-7)  # 0.4 / 0.5
    assert np.isnan(got[7]) and np.isnan(got[8])  # NaN or infinite input: no data


def test_caller_nodata_integers_and_broadcast():
    # NEON-like int16 DN (scale 10000 cancels): -9999 no data is negative, so no data too.
    nir = np.array([[3000, -9999], [2500, 20]], np.int16)
    red = np.array([[500, 3000], [0, -50]], np.int16)
    got = normalized_difference(nir, red, nodata=-9999.0)
    np.testing.assert_array_equal(got, np.array([[2500 / 3500, -9999], [1.0, -9999]], np.float32))
    assert normalized_difference(np.float64(0.3), np.float64(0.1)).dtype == np.float32
    row = normalized_difference(np.array([[0.3], [0.0]]), np.array([0.1, 0.3]))  # (2, 1) with (2,)
    np.testing.assert_allclose(row, [[0.5, 0.0], [-1.0, -1.0]], atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint16, np.int16])
def test_valid_values_are_in_the_closed_unit_interval(dtype):
    # Values from tiny to huge (float types), with many ties and zeros: never outside [-1, 1],
    # no data exactly where the rule says.
    rng = np.random.default_rng(1)
    if np.issubdtype(dtype, np.floating):
        a = (rng.random(200_000) * 10.0 ** rng.integers(-30, 30, 200_000)).astype(dtype)
        b = (rng.random(200_000) * 10.0 ** rng.integers(-30, 30, 200_000)).astype(dtype)
        a[::7] = 0
        b[::5] = -b[::5]
    else:
        info = np.iinfo(dtype)
        a = rng.integers(max(info.min, -100), info.max, 200_000).astype(dtype)
        b = rng.integers(max(info.min, -100), info.max, 200_000).astype(dtype)
    with np.errstate(over="ignore"):
        got = normalized_difference(a, b)
    ok = (a >= 0) & (b >= 0) & ~((a == 0) & (b == 0))
    assert np.array_equal(np.isfinite(got), ok)
    assert got[ok].min() >= -1.0 and got[ok].max() <= 1.0


def test_check_ndvi_range():
    check_ndvi_range(np.array([-1.0, 1.0, np.nan, 0.2], np.float32), "x.tif")
    with pytest.raises(InputDataError, match=r"x.tif: 2 NDVI value\(s\) outside \[-1, 1\] \(from -1.71 to 1.2\)"):
        check_ndvi_range(np.array([-1.71, 0.5, 1.2, np.nan]), "x.tif")
