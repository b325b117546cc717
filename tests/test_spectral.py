"""Tests of aopflow.spectral: hand-computed cases, invariants, and pysptools 0.15.0 as oracle.

pysptools is made importable by tests/pysptools_compat.py (NumPy 2 / SciPy 1.1x shims).
All data are synthetic: smooth random spectra (sums of Gaussian bumps on a 0.3 baseline),
Dirichlet abundances and Gaussian noise.
"""

from __future__ import annotations

import math

import numpy as np
import pysptools_compat as psp
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from aopflow import spectral
from aopflow.spectral import unmixing as spectral_unmix
from aopflow.errors import ConfigError, InputDataError


def smooth_spectra(rng: np.random.Generator, n: int, n_bands: int) -> np.ndarray:
    """(n, n_bands) float64 reflectance-like spectra: baseline plus 4 Gaussian bumps each."""
    wl = np.linspace(400.0, 2500.0, n_bands)
    out = np.empty((n, n_bands))
    for i in range(n):
        centre = rng.uniform(400, 2500, 4)
        width = rng.uniform(100, 600, 4)
        height = rng.uniform(-0.2, 0.3, 4)
        out[i] = 0.3 + sum(
            h * np.exp(-0.5 * ((wl - c) / w) ** 2) for c, w, h in zip(centre, width, height)
        )
    return out


def mixtures(
    seed: int,
    n: int,
    n_bands: int,
    n_pixels: int,
    *,
    noise: float = 0.005,
    alpha: float = 0.5,
    pure: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X (N, B) float32, E (n, B) float64, A (N, n)).

    ``pure`` appends one noisy pure pixel per endmember.
    """
    rng = np.random.default_rng(seed)
    E = smooth_spectra(rng, n, n_bands)
    A = rng.dirichlet(np.full(n, alpha), size=n_pixels)
    if pure:
        A = np.vstack([A, np.eye(n)])
    X = A @ E + rng.normal(0.0, noise, (A.shape[0], n_bands))
    return X.astype(np.float32), E, A


def residual_norms(X: np.ndarray, A: np.ndarray, E: np.ndarray) -> np.ndarray:
    return np.linalg.norm(X.astype(np.float64) - A.astype(np.float64) @ E, axis=1)


def brute_force_fcls(x: np.ndarray, E: np.ndarray) -> float:
    """Least FCLS objective ||x - aE||^2 by trying every support (independent of the module)."""
    n = E.shape[0]
    best = np.inf
    for code in range(1, 1 << n):
        S = [j for j in range(n) if code >> j & 1]
        Es = E[S]
        K = np.zeros((len(S) + 1, len(S) + 1))
        K[:-1, :-1] = Es @ Es.T
        K[:-1, -1] = K[-1, :-1] = 1.0
        sol = np.linalg.lstsq(K, np.append(Es @ x, 1.0), rcond=None)[0][:-1]
        if (sol >= -1e-12).all():
            best = min(best, float(np.sum((x - sol @ Es) ** 2)))
    return best


# --------------------------------------------------------------------------------------
# hand-computed cases
# --------------------------------------------------------------------------------------


def test_sam_of_spectrum_with_itself_is_zero_and_scale_invariant():
    rng = np.random.default_rng(0)
    E = smooth_spectra(rng, 3, 50)
    X = np.vstack([E[1], 3.7 * E[1], 0.01 * E[2]]).astype(np.float32)
    angles = spectral.sam(X, E)
    assert angles.shape == (3, 3) and angles.dtype == np.float32
    assert_allclose(angles[[0, 1, 2], [1, 1, 2]], 0.0, atol=1e-6)
    assert_allclose(angles[0], angles[1], atol=1e-6)
    assert_allclose(spectral.sam(X, 5.0 * E), angles, atol=1e-6)
    assert (angles[0, [0, 2]] > 0.01).all()


def test_sam_hand_computed_angle():
    E = np.array([[1.0, 0.0], [1.0, 1.0]])
    X = np.array([[0.0, 2.0]], dtype=np.float32)
    assert_allclose(spectral.sam(X, E), [[math.pi / 2, math.pi / 4]], rtol=1e-6)


@pytest.mark.parametrize("method", sorted(spectral.UNMIX_METHODS))
def test_quarter_three_quarter_mixture_unmixes_exactly(method):
    rng = np.random.default_rng(1)
    E = smooth_spectra(rng, 2, 80)
    x = (0.25 * E[0] + 0.75 * E[1])[None, :].astype(np.float32)
    A = spectral.unmix(x, E, method)
    assert A.dtype == np.float32 and A.shape == (1, 2)
    assert_allclose(A[0], [0.25, 0.75], atol=1e-5)


def test_sid_matches_direct_definition_and_is_zero_on_itself():
    rng = np.random.default_rng(2)
    E = smooth_spectra(rng, 4, 120)
    X = np.vstack([E, smooth_spectra(rng, 20, 120)]).astype(np.float32)
    got = spectral.sid(X, E)
    p = X.astype(np.float64)
    p = p / p.sum(axis=1, keepdims=True) + np.spacing(1)
    q = E / E.sum(axis=1, keepdims=True) + np.spacing(1)
    direct = np.array(
        [[np.sum(pi * np.log(pi / qj) + qj * np.log(qj / pi)) for qj in q] for pi in p]
    )
    assert_allclose(got, direct, rtol=1e-5, atol=1e-9)
    assert_allclose(np.diag(got[:4]), 0.0, atol=1e-7)
    assert (got >= 0).all()


def test_sid_floors_non_positive_reflectance():
    rng = np.random.default_rng(3)
    E = smooth_spectra(rng, 2, 60)
    x = E[0].copy()
    x[:5] = [-0.02, 0.0, -1e-6, 0.0, -0.5]  # noisy absorption bands
    floored = np.maximum(x, spectral.SID_FLOOR)
    got = spectral.sid(np.vstack([x, floored]).astype(np.float32), E)
    assert np.isfinite(got).all()
    assert_allclose(got[0], got[1], rtol=1e-6)


def test_classify_single_and_per_class_thresholds_by_hand():
    scores = np.array(
        [
            [0.05, 0.20, 0.30],  # class 1
            [0.30, 0.10, 0.12],  # best is 2
            [0.50, 0.40, 0.45],  # nothing within 0.35
            [np.nan, np.nan, np.nan],  # nodata
            [0.30, np.nan, 0.25],  # NaN never wins
        ]
    )
    assert_array_equal(spectral.classify(scores), [1, 2, 2, 0, 3])
    assert_array_equal(spectral.classify(scores, 0.35), [1, 2, 0, 0, 3])
    # Per class: class 2 is within 0.05 only, so the 2nd pixel falls to class 3 (0.12 <= 0.2)
    # and the last to class 1 (0.25 > 0.2 for class 3), as pysptools' _multiple_values_min.
    assert_array_equal(spectral.classify(scores, [0.35, 0.05, 0.2]), [1, 3, 0, 0, 1])
    assert spectral.classify(scores).dtype == np.uint8


# --------------------------------------------------------------------------------------
# pysptools as oracle
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [3, 5])
def test_fcls_feasible_and_no_worse_than_pysptools(n):
    X, E, _ = mixtures(10 + n, n, 120, 300, alpha=0.2, noise=0.01)
    A = spectral.fcls(X, E)
    assert A.shape == (300, n) and A.dtype == np.float32
    assert (A >= 0).all()
    assert_allclose(A.sum(axis=1), 1.0, atol=1e-6)
    ref = psp.FCLS(X, E)
    ours, theirs = residual_norms(X, A, E), residual_norms(X, ref, E)
    assert (ours <= theirs + 1e-6).all(), float(np.max(ours - theirs))
    # The test has teeth: many pixels have zero abundances (active constraints).
    assert (A == 0).any(axis=1).mean() > 0.2


def test_fcls_is_exact_against_brute_force():
    X, E, _ = mixtures(20, 4, 60, 60, alpha=0.3, noise=0.02)
    A = spectral.fcls(X, E)
    X64 = X.astype(np.float64)
    ours = np.sum((X64 - A.astype(np.float64) @ E) ** 2, axis=1)
    best = np.array([brute_force_fcls(x, E) for x in X64])
    assert_allclose(ours, best, rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize("sum_to_one", [True, False])
def test_every_active_set_stage_is_exact_on_ill_conditioned_endmembers(sum_to_one):
    # Nearly collinear endmembers (cond(G) ~ 1e7), pixels scaled off the simplex, a zero and
    # a negative pixel. Stage 1 alone, stage 2 alone (stage 1 skipped) and the enumeration
    # fallback must each give the brute-force optimum.
    from scipy.optimize import nnls as scipy_nnls

    rng = np.random.default_rng(23)
    n = 6
    E = smooth_spectra(rng, 1, 80)[0] + 0.02 * smooth_spectra(rng, n, 80) - 0.006
    A = rng.dirichlet(np.full(n, 0.3), 80) * rng.uniform(0.7, 1.3, (80, 1))
    X = (A @ E + rng.normal(0, 0.01, (80, 80))).astype(np.float32)
    X[0], X[1] = 0.0, -0.01
    X64 = X.astype(np.float64)
    G, b = spectral.gram_products(X, E)
    assert np.linalg.cond(G) > 1e6
    scale = np.mean(np.diag(G))
    solver = spectral_unmix._SupportSolver(G / scale, sum_to_one)
    bT = np.ascontiguousarray(b.T) / scale
    if sum_to_one:
        best = np.array([brute_force_fcls(x, E) for x in X64])
    else:
        best = np.array([scipy_nnls(E.T, x)[1] ** 2 for x in X64])
    for got in (
        spectral_unmix._active_set(solver, bT),
        spectral_unmix._active_set(solver, bT, pd_iterations=0),
        spectral_unmix._enumerate_supports(solver, bT),
    ):
        assert (got >= 0).all()
        if sum_to_one:
            assert_allclose(got.sum(axis=0), 1.0, atol=1e-12)
        assert_allclose(np.sum((X64 - got.T @ E) ** 2, axis=1), best, rtol=1e-7, atol=1e-12)


def test_nnls_matches_scipy_nnls_residuals():
    from scipy.optimize import nnls as scipy_nnls

    X, E, _ = mixtures(21, 5, 90, 200, alpha=0.4, noise=0.01)
    X = 1.3 * X  # leave the simplex so sums differ from 1
    A = spectral.nnls(X, E)
    assert (A >= 0).all()
    ref = np.array([scipy_nnls(E.T, x.astype(np.float64))[1] for x in X])
    assert_allclose(residual_norms(X, A, E), ref, rtol=1e-5, atol=1e-6)


def test_ucls_matches_pysptools():
    X, E, _ = mixtures(22, 4, 70, 50)
    assert_allclose(spectral.ucls(X, E), psp.UCLS(X, E), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("seed", "n"), [(30, 3), (31, 4), (32, 5)])
def test_nfindr_volume_at_least_pysptools_from_same_atgp_init(seed, n):
    # Highly mixed data without pure pixels: the ATGP start is not optimal, so the sweeps
    # have to do real work.
    X, _, _ = mixtures(seed, n, 60, 1500, alpha=1.0, noise=0.01)
    ref_idx = psp.NFINDR(X, n)[2]
    # The space pysptools' NFINDR works in, and its ATGP start on it.
    Y = psp.exact_pca_transform(X, n - 1).astype(np.float64)
    init = psp.ATGP(Y, n)[1]
    E, idx = spectral.nfindr(X, n, init=init)
    assert_array_equal(E, X[idx])
    ours, theirs = spectral.simplex_volume(Y[idx]), spectral.simplex_volume(Y[ref_idx])
    assert ours >= theirs * (1 - 1e-9), (ours, theirs)
    # A local optimum of the volume: no single replacement of an endmember by any pixel makes
    # it larger (the sweeps left nothing undone; depending on the BLAS behind pysptools' PCA,
    # its ATGP start may already be one, or be degenerate with a repeated pixel).
    base = Y[idx]
    for k in range(n):
        trial = np.repeat(base[None], len(Y), axis=0)
        trial[:, k] = Y
        dets = np.abs(np.linalg.det(trial[:, 1:] - trial[:, :1]))
        assert dets.max() <= abs(np.linalg.det(base[1:] - base[:1])) * (1 + 1e-9), (k, dets.argmax())


def test_atgp_same_indices_as_pysptools():
    X, _, _ = mixtures(40, 6, 80, 2000, alpha=0.5, noise=0.005)
    ref_E, ref_idx = psp.ATGP(X, 6)
    E, idx = spectral.atgp(X, 6)
    assert_array_equal(idx, ref_idx)
    assert_array_equal(E, ref_E)


def _pysptools_limits(scores: np.ndarray, threshold) -> np.ndarray | float:
    """pysptools' thresholds are fractions of the score range: convert them to scores."""
    if isinstance(threshold, float):
        return float(scores.min() + (scores.max() - scores.min()) * threshold)
    lo, hi = scores.min(axis=0), scores.max(axis=0)
    return lo + (hi - lo) * np.asarray(threshold)


@pytest.mark.parametrize("name", ["sam", "sid"])
@pytest.mark.parametrize("threshold", [None, 0.05, 0.1, [0.1, 0.25, 0.05, 0.4, 0.2]])
def test_class_maps_equal_pysptools(name, threshold):
    X, E, _ = mixtures(50, 5, 100, 3000, alpha=0.3, noise=0.003)
    oracle = {"sam": psp.SAM, "sid": psp.SID}[name]
    ref_map, ref_scores = oracle(X, E, threshold)
    scores = spectral.CLASSIFIERS[name](X, E)
    assert_allclose(scores, ref_scores, rtol=1e-4, atol=2e-5)
    if threshold is None:
        got = spectral.classify(scores)
        assert_array_equal(got, ref_map + 1)  # pysptools gives a 0-based argmin here
    else:
        got = spectral.classify(scores, _pysptools_limits(ref_scores, threshold))
        assert_array_equal(got, ref_map)
        assert 0 < np.count_nonzero(got == 0) < got.size  # some but not all unclassified


# --------------------------------------------------------------------------------------
# strategy tables, recovery, blocks
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", sorted(spectral.ENDMEMBER_METHODS))
def test_endmember_methods_recover_truth(method):
    X, E, _ = mixtures(60, 4, 100, 3000, alpha=0.5, noise=0.003, pure=True)
    found, idx = spectral.ENDMEMBER_METHODS[method](X, 4, seed=0)
    assert found.shape == (4, 100) and found.dtype == np.float32
    assert_array_equal(found, X[idx])
    angles = spectral.sam(found, E)
    # every true endmember has an extracted one within 0.1 rad, and they are distinct
    assert (angles.min(axis=0) < 0.1).all()
    assert sorted(np.argmin(angles, axis=1)) == [0, 1, 2, 3]
    assert_array_equal(spectral.extract_endmembers(X, method, 4, seed=0), found)


@pytest.mark.parametrize("method", sorted(spectral.UNMIX_METHODS))
def test_unmix_methods_recover_noise_free_abundances(method):
    X, E, A = mixtures(61, 4, 90, 500, alpha=1.0, noise=0.0)
    got = spectral.unmix(X, E, method)
    assert got.shape == A.shape and got.dtype == np.float32
    assert_allclose(got, A, atol=2e-4)
    G, b = spectral.gram_products(X, E)
    assert_allclose(spectral.UNMIX_FROM_GRAM[method](G, b), got, atol=1e-6)
    # float32 cross products computed blockwise by a caller are taken as they are (no loss in
    # the solver), and move the answer no more than their rounding error allows: the largest
    # change of b times ||G^-1|| (which bounds the inverse of every principal submatrix of the
    # SPD G, i.e. every active set). The rounding itself depends on the BLAS kernels.
    b32 = np.vstack([X[i : i + 128] @ E.T.astype(np.float32) for i in range(0, 500, 128)])
    from_b32 = spectral.UNMIX_FROM_GRAM[method](G, b32)
    assert_allclose(from_b32, spectral.UNMIX_FROM_GRAM[method](G, b32.astype(np.float64)), atol=1e-6)
    bound = np.linalg.norm(np.linalg.inv(G), 2) * np.linalg.norm(b32 - b, axis=1).max()
    assert bound < 1e-3  # float32 rounding of a well-posed case, not a broken product
    assert np.abs(from_b32 - got).max() <= 1.01 * bound + 1e-6


@pytest.mark.parametrize("name", sorted(spectral.CLASSIFIERS))
def test_classifiers_assign_pure_pixels_to_their_class(name):
    X, E, _ = mixtures(62, 5, 100, 0, noise=0.002, pure=True)
    scores = spectral.CLASSIFIERS[name](X, E)
    assert scores.shape == (5, 5) and scores.dtype == np.float32
    assert_array_equal(spectral.classify(scores), [1, 2, 3, 4, 5])


def test_fcls_blocks_and_nan_pixels():
    X, E, _ = mixtures(63, 5, 60, 1000, alpha=0.3, noise=0.01)
    whole = spectral.fcls(X, E)
    parts = np.vstack([spectral.fcls(X[i : i + 300], E) for i in range(0, 1000, 300)])
    assert_array_equal(whole, parts)
    X[7] = np.nan
    A = spectral.fcls(X, E)
    assert np.isnan(A[7]).all()
    assert_array_equal(np.delete(A, 7, axis=0), np.delete(whole, 7, axis=0))
    assert spectral.classify(spectral.sam(X, E))[7] == 0


def test_fcls_handles_affinely_dependent_endmembers():
    rng = np.random.default_rng(64)
    E = smooth_spectra(rng, 3, 50)
    E = np.vstack([E, 0.5 * (E[0] + E[1])])  # 4th is a mixture of the first two
    X = (rng.dirichlet(np.ones(4), 200) @ E + rng.normal(0, 0.01, (200, 50))).astype(np.float32)
    A = spectral.fcls(X, E)
    assert (A >= 0).all()
    assert_allclose(A.sum(axis=1), 1.0, atol=1e-6)
    best = np.array([brute_force_fcls(x, E) for x in X[:40].astype(np.float64)])
    ours = residual_norms(X[:40], A[:40], E) ** 2
    assert_allclose(ours, best, rtol=1e-6, atol=1e-10)


def test_extract_endmembers_drops_nodata_pixels():
    X, _, _ = mixtures(65, 3, 40, 500, pure=True, noise=0.002)
    X_nan = X.copy()
    X_nan[::7] = np.nan
    keep = np.isfinite(X_nan).all(axis=1)
    assert_array_equal(
        spectral.extract_endmembers(X_nan, "atgp", 3),
        spectral.extract_endmembers(X[keep], "atgp", 3),
    )


def test_simplex_volume_hand_computed():
    tri = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 3.0]])
    assert spectral.simplex_volume(tri) == pytest.approx(3.0)
    tri3d = np.hstack([tri, np.zeros((3, 1))])  # same triangle embedded in 3-D
    assert spectral.simplex_volume(tri3d) == pytest.approx(3.0)
    tet = np.vstack([np.zeros(3), np.eye(3)])
    assert spectral.simplex_volume(tet) == pytest.approx(1 / 6)


# --------------------------------------------------------------------------------------
# configuration errors
# --------------------------------------------------------------------------------------


def test_unknown_methods_raise_config_errors():
    X, E, _ = mixtures(70, 3, 20, 50)
    with pytest.raises(ConfigError, match="endmembers.method.*'atgp', 'nfindr', 'ppi'"):
        spectral.extract_endmembers(X, "vca", 3)
    with pytest.raises(ConfigError, match="unmix.method.*'fcls', 'nnls', 'ucls'"):
        spectral.unmix(X, E, "sunsal")


@pytest.mark.parametrize("method", sorted(spectral.ENDMEMBER_METHODS))
def test_too_many_endmembers_raise_config_error(method):
    X, _, _ = mixtures(71, 3, 20, 300, noise=0.0)  # affine rank 2: supports n <= 3
    with pytest.raises(ConfigError, match="endmembers.n"):
        spectral.extract_endmembers(X, method, 5)
    with pytest.raises(ConfigError, match="endmembers.n"):
        spectral.extract_endmembers(X, method, 22)  # n - 1 > 20 bands
    with pytest.raises(ConfigError, match="endmembers.n"):
        spectral.extract_endmembers(X, method, 1)
    few = np.full_like(X, np.nan)
    few[:3] = X[:3]
    with pytest.raises(ConfigError, match="endmembers.n"):
        spectral.extract_endmembers(few, method, 4)  # 3 valid pixels for 4 endmembers
    repeated = np.tile(X[:3], (100, 1))  # 300 pixels but only 3 distinct
    with pytest.raises(ConfigError, match="endmembers.n"):
        spectral.extract_endmembers(repeated, method, 4)
    assert spectral.extract_endmembers(X, method, 3).shape == (3, 20)


def test_classify_threshold_errors_name_the_key():
    scores = np.zeros((4, 3))
    with pytest.raises(ConfigError, match="classify.sam_max_angle.*3 numbers"):
        spectral.classify(scores, [0.1, 0.2], key="classify.sam_max_angle")
    with pytest.raises(ConfigError, match="classify.sid_max"):
        spectral.classify(scores, "0.1", key="classify.sid_max")
    with pytest.raises(ConfigError, match="classify.sam_max_angle"):
        spectral.classify(scores, -0.1, key="classify.sam_max_angle")


# --------------------------------------------------------------------------------------
# spectral libraries
# --------------------------------------------------------------------------------------


def test_resample_spectra_linear_and_range_check():
    src = np.array([400.0, 500.0, 600.0])
    spectra = np.array([[0.0, 1.0, 3.0], [2.0, 2.0, 2.0]])
    got = spectral.resample_spectra(src, spectra, np.array([400.0, 450.0, 575.0, 600.0]))
    assert_allclose(got, [[0.0, 0.5, 2.5, 3.0], [2.0, 2.0, 2.0, 2.0]])
    assert_allclose(spectral.resample_spectra(src, spectra[0], [550.0]), [2.0])
    with pytest.raises(ConfigError, match="endmembers.library.*400-600 nm"):
        spectral.resample_spectra(src, spectra, np.array([380.0, 500.0]))
    with pytest.raises(ConfigError, match="endmembers.library"):
        spectral.resample_spectra(src, spectra, np.array([500.0, 600.5]))


def test_endmember_csv_round_trip(tmp_path):
    rng = np.random.default_rng(80)
    wl = np.linspace(381.0, 2510.0, 7)
    E = smooth_spectra(rng, 3, 7).astype(np.float32)
    path = tmp_path / "lib" / "endmembers.csv"
    spectral.write_endmember_csv(path, wl, E)
    assert path.read_text().splitlines()[0] == "wavelength_nm,em1,em2,em3"
    wl2, E2, names = spectral.read_endmember_csv(path)
    assert names == ["em1", "em2", "em3"]
    assert_array_equal(wl2, wl)
    assert_array_equal(E2, E)  # float32 values survive exactly
    spectral.write_endmember_csv(path, wl, E[:2], names=["grass", "soil"])
    assert spectral.read_endmember_csv(path)[2] == ["grass", "soil"]
    assert [p.name for p in path.parent.iterdir()] == ["endmembers.csv"]  # no temp left


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("wl,em1\n400,0.1\n500,0.2\n", "wavelength_nm"),
        ("wavelength_nm\n400\n500\n", "endmember names"),
        ("wavelength_nm,em1,em1\n400,0.1,0.2\n500,0.2,0.3\n", "endmember names"),
        ("wavelength_nm,em1\n400,0.1\n", "at least 2 band rows"),
        ("wavelength_nm,em1\n400,0.1\n500,0.2,0.3\n", "line 3 has 3 fields"),
        ("wavelength_nm,em1\n400,0.1\n500,abc\n", "line 3 .*not a number"),
        ("wavelength_nm,em1\n400,0.1\n500,nan\n", "line 3 holds NaN"),
        ("wavelength_nm,em1\n500,0.1\n400,0.2\n", "strictly increasing"),
    ],
)
def test_malformed_endmember_csv_raises_input_data_error(tmp_path, text, message):
    path = tmp_path / "bad_library.csv"
    path.write_text(text)
    with pytest.raises(InputDataError, match=f"bad_library.csv.*{message}"):
        spectral.read_endmember_csv(path)
