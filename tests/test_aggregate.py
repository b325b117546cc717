"""Tests of aopflow.aggregate: hand-computed blocks, partial blocks, the factor and no-data helpers."""

from __future__ import annotations

import numpy as np
import pytest

from aopflow.aggregate import DOWNSCALE_METHODS, block_aggregate, check_method, downscale_factor, mean_nodata
from aopflow.errors import ConfigError, InputDataError

ND = -9999

# 4x4 with nodata: blocks (top-left, top-right, bottom-left, bottom-right)
HAND = np.array([[1, 2, 3, 3],
                 [4, ND, 3, 5],
                 [7, 7, ND, ND],
                 [8, 9, ND, ND]], dtype=np.int16)


def test_hand_4x4_mean():
    out = block_aggregate(HAND, 2, "mean", ND)
    expected = np.array([[(1 + 2 + 4) / 3, (3 + 3 + 3 + 5) / 4],
                         [(7 + 7 + 8 + 9) / 4, ND]], dtype=np.float32)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, expected)


def test_hand_4x4_majority_ties_to_smallest():
    out = block_aggregate(HAND, 2, "majority", ND)
    # top-left: 1, 2, 4 once each -> smallest (1); top-right: 3 x3; bottom-left: 7 x2; empty
    np.testing.assert_array_equal(out, np.array([[1, 3], [7, ND]], dtype=np.int16))
    assert out.dtype == np.int16


def test_nan_is_ignored_and_all_nan_block_is_nodata():
    arr = np.array([[np.nan, 2.0], [np.nan, np.nan]], dtype=np.float32)
    assert block_aggregate(arr, 2, "mean", None)[0, 0] == 2.0
    assert np.isnan(block_aggregate(np.full((2, 2), np.nan), 2, "mean", None)[0, 0])
    assert np.isnan(block_aggregate(np.full((2, 2), np.nan), 2, "majority", None)[0, 0])


def test_non_divisible_size_uses_partial_blocks():
    arr = np.arange(35, dtype=np.float64).reshape(5, 7)
    out = block_aggregate(arr, 3, "mean", None)
    assert out.shape == (2, 3)
    np.testing.assert_allclose(out[0, 2], arr[0:3, 6].mean())  # 3x1 partial column
    np.testing.assert_allclose(out[1, 0], arr[3:5, 0:3].mean())  # 2x3 partial row
    np.testing.assert_allclose(out[1, 2], arr[3:5, 6].mean())  # 2x1 corner
    maj = block_aggregate(np.array([[5, 5, 1], [2, 2, 2]], dtype=np.uint8), 2, "majority")
    np.testing.assert_array_equal(maj, np.array([[2, 1]], dtype=np.uint8))


def test_multiband_array():
    arr = np.stack([HAND, HAND * 2])
    arr[1][HAND == ND] = ND
    out = block_aggregate(arr, 2, "mean", ND)
    assert out.shape == (2, 2, 2)
    np.testing.assert_allclose(out[1][out[0] != ND], 2 * out[0][out[0] != ND], rtol=1e-6)


def test_factor_and_nodata_helpers():
    assert downscale_factor(1.0, 10) == 10
    assert downscale_factor(0.1, 0.3) == 3  # 0.3 / 0.1 = 2.9999999999999996
    with pytest.raises(ConfigError):
        downscale_factor(1.0, 2.5)
    assert mean_nodata(-9999) == -9999.0
    assert np.isnan(mean_nodata(None)) and np.isnan(mean_nodata(1e40))


def test_methods_and_errors_name_the_config_key():
    assert check_method("mean") is DOWNSCALE_METHODS["mean"]
    with pytest.raises(ConfigError, match=r"Unknown method 'median' for downscale.method"):
        check_method("median")
    with pytest.raises(ConfigError, match=r"Unknown method 'median'"):
        block_aggregate(HAND, 2, "median", ND)
    with pytest.raises(ConfigError, match="whole number >= 1"):
        block_aggregate(HAND, 1.5, "mean", ND)
    with pytest.raises(ConfigError, match="sentinel2.compare_min_aop_fraction"):
        block_aggregate(HAND, 2, "majority", ND, min_valid_fraction=0.5)
    with pytest.raises(InputDataError, match="2-D or 3-D"):
        block_aggregate(HAND.ravel(), 2, "mean", ND)


def test_min_valid_fraction_by_hand():
    # Blocks of HAND hold 3, 4, 4 and 0 valid pixels of 4: at 0.8 only the full ones remain.
    out = block_aggregate(HAND, 2, "mean", ND, min_valid_fraction=0.8)
    np.testing.assert_array_equal(out, np.array([[ND, 14 / 4], [31 / 4, ND]], dtype=np.float32))
    # At the edges the fraction counts the pixels that exist: a 1x2 partial block with one valid.
    edge = np.array([[1.0, np.nan, 5.0]], dtype=np.float32)
    np.testing.assert_array_equal(block_aggregate(edge, 2, "mean", None, min_valid_fraction=0.5), [[1.0, 5.0]])
    assert np.isnan(block_aggregate(edge, 2, "mean", None, min_valid_fraction=0.6)[0, 0])
