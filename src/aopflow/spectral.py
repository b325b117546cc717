"""Spectral algorithms: endmember extraction, linear unmixing, spectral similarity.

Pixels are a 2-D array ``X`` of shape (N, B): N pixels, B bands, reflectance (0..~1.5, may
hold values > 1 and small negatives), float32. Endmembers ``E`` have shape (n, B). Every
function works on any block of pixels (e.g. 10^5 at a time) and never assumes it sees the
whole image; temporaries of shape (N, B) stay float32 and float64 work is done on blocks of
at most ``_BLOCK`` pixels, so memory is O(block x B + N x n).

Endmember extraction (return ``(E, idx)``: E (n, B) float32 rows of ``X``, idx (n,) int64)

* :func:`atgp` - Automatic Target Generation Process (Ren & Chang 2003).
* :func:`nfindr` - N-FINDR (Winter 1999) on the (n-1)-dimensional PCA projection.
* :func:`ppi` - Pixel Purity Index (Boardman et al. 1995).

Abundances (``A`` (N, n) float32), all from the Gram matrix ``G = E E^T`` (n, n) and the
cross products ``b = X E^T`` (N, n), so the cost per pixel after the product is O(n^2..n^3),
independent of B:

* :func:`fcls` - fully constrained least squares (Heinz & Chang 2001): A >= 0, rows sum to 1.
* :func:`nnls` - non-negative least squares (Lawson & Hanson 1974).
* :func:`ucls` - unconstrained least squares.

Similarity (``(N, n)`` float32 scores, smaller = more similar) and classification:

* :func:`sam` - spectral angle mapper (Kruse et al. 1993), radians.
* :func:`sid` - spectral information divergence (Chang 2000).
* :func:`classify` - 1-based class map with 0 = unclassified.

The reference implementation these are tested against is pysptools 0.15.0
(``tests/test_spectral.py``); aopflow does not depend on it.
"""

from __future__ import annotations

import csv
import logging
import math
import numbers
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import scipy.linalg

from aopflow.errors import ConfigError, InputDataError
from aopflow.io import atomic_path

log = logging.getLogger(__name__)

#: Pixels per block for float64 temporaries: 2048 x 426 bands x 8 bytes = 7 MB, small enough
#: to stay in cache across the several passes SAM/SID make over a block (measured 1.5-2x
#: faster than 8192), large enough to amortise the per-block Python overhead.
_BLOCK = 2048

#: Pixels per block in the abundance solvers (keeps their (n, block) temporaries in cache).
_SOLVE_BLOCK = 65536

#: Largest n for which the abundance solvers tabulate all 2^n support matrices.
_TABLE_MAX_N = 12

#: A principal direction whose variance is below this fraction of the largest one is treated
#: as absent when deciding whether the data can support n endmembers. 1e-8 in variance is
#: 1e-4 in standard deviation: far below sensor noise in real reflectance (so real tiles
#: always pass) and far above float32 round-off (so degenerate samples are caught).
_RANK_RTOL = 1e-8

#: The reflectance floor applied before SID normalisation (one NEON digital number, since
#: reflectance is stored as int16 with scale factor 10000).
SID_FLOOR = 1e-4


# --------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------


def _pixels(X: np.ndarray, name: str = "X") -> np.ndarray:
    """Return ``X`` as a 2-D float array (float32 unless already float64), without copying."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (pixels, bands) array; got shape {X.shape}")
    if X.dtype != np.float32 and X.dtype != np.float64:
        X = X.astype(np.float32)
    return X


def _endmembers(E: np.ndarray, n_bands: int) -> np.ndarray:
    """Return ``E`` as a 2-D float64 (n, B) array with B == ``n_bands``."""
    E = np.asarray(E, dtype=np.float64)
    if E.ndim != 2 or E.shape[1] != n_bands or E.shape[0] < 1:
        raise ValueError(
            f"Endmembers must be an (n, {n_bands}) array matching the pixels' {n_bands} bands; "
            f"got shape {E.shape}. Resample a library with resample_spectra() first."
        )
    if not np.isfinite(E).all():
        raise ValueError("Endmembers contain NaN or infinite values")
    return E


def _blocks(n_rows: int, size: int = _BLOCK):
    for start in range(0, n_rows, size):
        yield slice(start, min(start + size, n_rows))


def _check_n(n: object, n_pixels: int, n_bands: int) -> int:
    """Validate the number of endmembers against the sample; ConfigError naming endmembers.n."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise ConfigError(f"endmembers.n must be an integer >= 2; got {n!r}")
    n = int(n)
    if n < 2:
        raise ConfigError(f"endmembers.n must be >= 2 (a mixture needs two endmembers); got {n}")
    if n - 1 > n_bands:
        raise ConfigError(
            f"endmembers.n = {n} needs at least n-1 = {n - 1} bands but the data have {n_bands}; "
            "reduce endmembers.n."
        )
    if n_pixels < n:
        raise ConfigError(
            f"endmembers.n = {n} but the sample has only {n_pixels} valid pixels; reduce "
            "endmembers.n or sample more pixels."
        )
    return n


def _rank_error(n: int, detail: str) -> ConfigError:
    return ConfigError(
        f"The pixel sample cannot support endmembers.n = {n} endmembers: {detail}. The data "
        "span fewer independent spectral directions than needed (too few distinct pixels, "
        "or nearly identical spectra); reduce endmembers.n or sample a more varied area."
    )


def _require_finite(X: np.ndarray) -> None:
    for blk in _blocks(X.shape[0], 8 * _BLOCK):
        if not np.isfinite(X[blk]).all():
            raise ValueError(
                "X contains NaN or infinite values; drop nodata pixels first "
                "(extract_endmembers() does this)"
            )


# --------------------------------------------------------------------------------------
# PCA and simplex volume
# --------------------------------------------------------------------------------------


def pca_reduce(
    X: np.ndarray, n_components: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Project pixels on their leading principal components.

    ``X`` (N, B) float32. Returns ``(Y, mean, components, variances)``: ``Y`` (N, k) float64
    centred scores, ``mean`` (B,) float64, ``components`` (B, k) float64 orthonormal columns,
    ``variances`` (k,) float64 = variance of each column of ``Y`` (descending), for
    k = ``n_components``.

    The covariance is accumulated blockwise with float32 products (float64 sums across
    blocks), which is accurate enough to find the directions; the reported variances are
    recomputed from the projections in float64, which makes them accurate even for
    directions that float32 round-off alone would blur (used for the rank check).
    This is the projection pysptools' N-FINDR uses (scikit-learn PCA), up to the sign of
    each component - to which simplex volumes are invariant.
    """
    X = _pixels(X)
    N, B = X.shape
    k = int(n_components)
    if not 1 <= k <= B:
        raise ValueError(f"n_components must be in 1..{B}; got {n_components}")
    mean = X.mean(axis=0, dtype=np.float64)
    mean_x = mean.astype(X.dtype)
    cov = np.zeros((B, B))
    buf = np.empty((min(N, 8 * _BLOCK), B), dtype=X.dtype)
    for blk in _blocks(N, buf.shape[0]):
        xc = np.subtract(X[blk], mean_x, out=buf[: blk.stop - blk.start])
        cov += xc.T @ xc
    # Only the k leading eigenvectors are needed; LAPACK syevx on that subset is much faster
    # than a full eigendecomposition (and far less sensitive to BLAS thread contention).
    _, vecs = scipy.linalg.eigh(cov, subset_by_index=[B - k, B - 1], driver="evx")
    comps = np.ascontiguousarray(vecs[:, ::-1])
    comps_x = comps.astype(X.dtype)
    Y = np.empty((N, k))
    for blk in _blocks(N, buf.shape[0]):
        Y[blk] = np.subtract(X[blk], mean_x, out=buf[: blk.stop - blk.start]) @ comps_x
    variances = (Y * Y).sum(axis=0) / max(N - 1, 1)
    return Y, mean, comps, variances


def simplex_volume(E_reduced: np.ndarray) -> float:
    """Volume of the simplex whose n vertices are the rows of ``E_reduced`` (n, d), d >= n-1.

    The volume is measured in the space the coordinates are given in: for N-FINDR that is
    the (n-1)-dimensional PCA space of the pixel sample (:func:`pca_reduce`), so volumes are
    comparable only between vertex sets projected with the same PCA. For d == n-1 this is
    ``|det([1; E_reduced^T])| / (n-1)!`` (N-FINDR's criterion up to the constant); for
    d > n-1 it is ``sqrt(det(D D^T)) / (n-1)!`` with ``D`` the edge vectors from vertex 0.
    """
    V = np.asarray(E_reduced, dtype=np.float64)
    if V.ndim != 2 or V.shape[0] < 2 or V.shape[1] < V.shape[0] - 1:
        raise ValueError(f"E_reduced must be (n, d) with n >= 2 and d >= n-1; got {V.shape}")
    D = V[1:] - V[0]
    m = D.shape[0]
    if D.shape[1] == m:
        vol = abs(np.linalg.det(D))
    else:
        vol = math.sqrt(max(np.linalg.det(D @ D.T), 0.0))
    return float(vol / math.factorial(m))


# --------------------------------------------------------------------------------------
# endmember extraction
# --------------------------------------------------------------------------------------


def _atgp_indices(X: np.ndarray, n: int, *, check_rank: bool = True) -> np.ndarray:
    """ATGP pixel indices (n,) for any (N, d) array; ConfigError if linear rank < n.

    With ``check_rank=False`` picks continue past the data's rank (decided by round-off),
    as pysptools does when it runs ATGP for n vertices on n-1 PCA scores.
    """
    N = X.shape[0]
    buf = np.empty((min(_BLOCK, N), X.shape[1]))

    def block64(blk: slice) -> np.ndarray:
        xb = buf[: blk.stop - blk.start]
        np.copyto(xb, X[blk])
        return xb

    energy = np.empty(N)
    for blk in _blocks(N):
        xb = block64(blk)
        energy[blk] = np.einsum("ij,ij->i", xb, xb)
    top = float(energy.max())
    if top <= 0.0:
        raise _rank_error(n, "all pixels are zero")
    # residual[i] = squared norm of pixel i orthogonal to the chosen pixels; pysptools forms
    # the projector I - U^T (U U^T)^+ U, which is the same quantity.
    residual = energy.copy()
    basis: list[np.ndarray] = []
    idx = np.empty(n, dtype=np.int64)
    for k in range(n):
        i = int(np.argmax(residual))  # first maximum, as pysptools' strict '>' scan
        if k and residual[i] <= _RANK_RTOL * top:
            if check_rank:
                raise _rank_error(n, f"only {k} linearly independent spectra")
            idx[k:] = i
            break
        idx[k] = i
        if k == n - 1:
            break
        u = X[i].astype(np.float64)
        for _ in range(2):  # Gram-Schmidt twice for a numerically orthogonal basis
            for q in basis:
                u -= (q @ u) * q
        u /= np.linalg.norm(u)
        basis.append(u)
        for blk in _blocks(N):
            residual[blk] -= (block64(blk) @ u) ** 2
    return idx


def atgp(X: np.ndarray, n: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Automatic Target Generation Process (Ren & Chang 2003; Plaza & Chang 2006).

    ``X`` (N, B) float32 finite pixels; ``n`` number of endmembers. The first endmember is
    the pixel of largest energy ``x.x``; each next one maximises the energy orthogonal to the
    span of those already chosen. Same pixel order as pysptools' ``ATGP``. ``seed`` is
    accepted for a uniform signature with the other methods; ATGP is deterministic.

    Returns ``(E, idx)``: E (n, B) float32 = ``X[idx]``, idx (n,) int64.
    Raises ConfigError (``endmembers.n``) if the pixels span fewer than n directions.
    """
    del seed
    X = _pixels(X)
    n = _check_n(n, *X.shape)
    _require_finite(X)
    idx = _atgp_indices(X, n)
    return X[idx].astype(np.float32), idx


def _reduce_for_endmembers(X: np.ndarray, n: int) -> np.ndarray:
    """(N, n-1) PCA scores; ConfigError if the sample's affine rank is below n-1."""
    Y, _, _, variances = pca_reduce(X, n - 1)
    if variances[0] <= 0.0 or variances[-1] <= _RANK_RTOL * variances[0]:
        rank = int(np.count_nonzero(variances > _RANK_RTOL * max(variances[0], 1e-300)))
        raise _rank_error(n, f"they vary along only {rank} of the {n - 1} needed directions")
    return Y


def _cofactors(T: np.ndarray, k: int) -> np.ndarray:
    """Cofactors of column k of the square matrix T: det(T with column k = v) = c @ v."""
    m = T.shape[0]
    rest = np.delete(T, k, axis=1)
    minors = np.stack([np.delete(rest, j, axis=0) for j in range(m)])
    signs = (-1.0) ** (np.arange(m) + k)
    return signs * np.linalg.det(minors)


def _nfindr_ascent(Y: np.ndarray, idx: np.ndarray, maxit: int) -> tuple[np.ndarray, float]:
    """N-FINDR coordinate ascent on scores Y (N, n-1) from vertex indices idx (n,).

    Returns the final indices and ``|det([1 ... 1; y_1 ... y_n])|``.
    """
    n = idx.size
    idx = idx.copy()
    # Columns of T are the vertices in homogeneous coordinates [1; y].
    T = np.ones((n, n))
    T[1:, :] = Y[idx].T
    volume = abs(np.linalg.det(T))
    for sweep in range(maxit + 1):
        improved = False
        for k in range(n):
            c = _cofactors(T, k)
            vols = np.abs(Y @ c[1:] + c[0])
            i = int(np.argmax(vols))  # first maximum, as pysptools' strict '>' scan
            if vols[i] > volume * (1.0 + 1e-12):
                volume = float(vols[i])
                idx[k] = i
                T[1:, k] = Y[i]
                improved = True
        log.debug("N-FINDR sweep %d: |det| = %.6g, indices %s", sweep, volume, idx.tolist())
        if not improved:
            break
    return idx, volume


def nfindr(
    X: np.ndarray,
    n: int,
    *,
    init: str | Sequence[int] | np.ndarray | None = None,
    maxit: int | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """N-FINDR endmember extraction (Winter 1999).

    ``X`` (N, B) float32 finite pixels. The pixels are projected on their n-1 leading
    principal components (:func:`pca_reduce`, as pysptools does) and the n pixels spanning
    the simplex of largest volume are searched by coordinate ascent: each sweep replaces
    every vertex in turn by the pixel that maximises the volume with the other vertices
    fixed. Replacing one vertex changes the determinant ``det([1 ... 1; y_1 ... y_n])``
    linearly in the new column, so the volumes for all N candidate pixels are one
    (N, n-1) @ (n-1,) product with that column's cofactors, instead of N determinants.
    Sweeps stop when no vertex improves, after at most ``maxit + 1`` sweeps
    (``maxit`` defaults to 3n, pysptools' default).

    ``init`` (the starting vertices; coordinate ascent finds a local maximum, so the start
    matters):

    * None (default): two starts, keeping the larger final volume - pysptools' start (ATGP
      on the n-1 PCA scores, whose n-th pick is decided by round-off since n-1 picks already
      span the space) and ATGP on the scores augmented with a constant coordinate
      (homogeneous coordinates, where all n picks are affinely meaningful);
    * ``"atgp"``: pysptools' start only;
    * ``"random"``: n distinct random pixels drawn with ``seed``;
    * a sequence of n pixel indices (repeats allowed: a degenerate start is repaired by the
      first sweep), e.g. pysptools' own ATGP pick to reproduce its run.

    Returns ``(E, idx)``: E (n, B) float32 = ``X[idx]``, idx (n,) int64.
    Raises ConfigError (``endmembers.n``) if the sample cannot support n endmembers.
    """
    X = _pixels(X)
    N, _ = X.shape
    n = _check_n(n, *X.shape)
    _require_finite(X)
    Y = _reduce_for_endmembers(X, n)
    maxit = 3 * n if maxit is None else int(maxit)
    starts = []
    if init is None or (isinstance(init, str) and init == "atgp"):
        starts.append(_atgp_indices(Y, n, check_rank=False))
        if init is None:
            scale = math.sqrt(float(np.mean(np.einsum("ij,ij->i", Y, Y))))
            starts.append(_atgp_indices(np.hstack([Y, np.full((N, 1), scale)]), n))
    elif isinstance(init, str) and init == "random":
        starts.append(np.random.default_rng(seed).choice(N, size=n, replace=False))
    elif isinstance(init, str):
        raise ValueError(f"init must be None, 'atgp', 'random' or n indices; got {init!r}")
    else:
        start = np.asarray(init, dtype=np.int64)
        if start.shape != (n,) or start.min() < 0 or start.max() >= N:
            raise ValueError(f"init must hold {n} pixel indices in 0..{N - 1}; got {init!r}")
        starts.append(start)
    best_idx, best_volume = None, -1.0
    for start in starts:
        idx, volume = _nfindr_ascent(Y, np.asarray(start, dtype=np.int64), maxit)
        if volume > best_volume:
            best_idx, best_volume = idx, volume
    if best_volume <= 0.0:
        raise _rank_error(n, "every candidate simplex has zero volume")
    return X[best_idx].astype(np.float32), best_idx


def ppi(
    X: np.ndarray, n: int, *, n_skewers: int = 1000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Pixel Purity Index (Boardman, Kruse & Green 1995): the n pixels most often extreme.

    ``X`` (N, B) float32 finite pixels. The pixels are projected on their n-1 leading
    principal components and whitened (an affine map, so the vertices of the data's
    convex hull - the candidate pure pixels - are unchanged, but every direction of the
    simplex gets a fair share of skewers, as with Boardman's MNF-reduced data). Each of
    ``n_skewers`` random unit vectors (isotropic, drawn with ``seed``) votes for the pixel
    with the largest and the one with the smallest projection. The n pixels with most votes
    are returned (ties: lower index first).

    Returns ``(E, idx)``: E (n, B) float32 = ``X[idx]``, idx (n,) int64.
    Raises ConfigError (``endmembers.n``) if fewer than n pixels receive a vote or the
    sample cannot support n endmembers.
    """
    X = _pixels(X)
    N, _ = X.shape
    n = _check_n(n, *X.shape)
    _require_finite(X)
    if isinstance(n_skewers, bool) or not isinstance(n_skewers, numbers.Integral) or n_skewers < 1:
        raise ConfigError(f"endmembers.ppi_skewers must be a positive integer; got {n_skewers!r}")
    Y = _reduce_for_endmembers(X, n)
    Y = Y / np.sqrt(Y.var(axis=0))
    rng = np.random.default_rng(seed)
    skewers = rng.standard_normal((Y.shape[1], int(n_skewers)))
    skewers /= np.linalg.norm(skewers, axis=0)
    votes = np.zeros(N, dtype=np.int64)
    for cols in _blocks(skewers.shape[1], 256):
        proj = Y @ skewers[:, cols]
        votes += np.bincount(np.argmax(proj, axis=0), minlength=N)
        votes += np.bincount(np.argmin(proj, axis=0), minlength=N)
    order = np.lexsort((np.arange(N), -votes))[:n]
    if votes[order[-1]] == 0:
        raise ConfigError(
            f"PPI found only {int(np.count_nonzero(votes))} extreme pixels for endmembers.n = "
            f"{n}; reduce endmembers.n or increase the number of skewers."
        )
    idx = order.astype(np.int64)
    return X[idx].astype(np.float32), idx


#: Strategy table for ``endmembers.method``; every entry is ``f(X, n, *, seed) -> (E, idx)``.
ENDMEMBER_METHODS: dict[str, Callable[..., tuple[np.ndarray, np.ndarray]]] = {
    "nfindr": nfindr,
    "atgp": atgp,
    "ppi": ppi,
}


def extract_endmembers(X: np.ndarray, method: str, n: int, *, seed: int = 0) -> np.ndarray:
    """Extract n endmembers from a pixel sample with ``ENDMEMBER_METHODS[method]``.

    ``X`` (N, B) float32 reflectance; rows with any NaN/inf (nodata) are dropped first.
    Returns E (n, B) float32. Raises ConfigError naming ``endmembers.method`` for an unknown
    method and ``endmembers.n`` when the sample cannot support n endmembers (n < 2,
    n-1 > B, fewer valid pixels than n, or too few independent spectral directions).
    """
    if method not in ENDMEMBER_METHODS:
        raise ConfigError(
            f"Unknown method {method!r} for endmembers.method; must be one of "
            f"{sorted(ENDMEMBER_METHODS)}"
        )
    X = _pixels(X)
    valid = np.ones(X.shape[0], dtype=bool)
    for blk in _blocks(X.shape[0], 8 * _BLOCK):
        valid[blk] = np.isfinite(X[blk]).all(axis=1)
    if not valid.all():
        X = X[valid]
    _check_n(n, *X.shape)
    E, _ = ENDMEMBER_METHODS[method](X, n, seed=seed)
    return E.astype(np.float32)


# --------------------------------------------------------------------------------------
# unmixing
# --------------------------------------------------------------------------------------


def gram_products(X: np.ndarray, E: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(G, b)``: G = E E^T (n, n) float64 and b = X E^T (N, n) float64.

    b is computed in float64 on blocks of pixels (each block converted from float32), so no
    (N, B) float64 array is allocated; it is returned as the transpose of an (n, N) array,
    the layout the solvers use. Callers that stream a tile may compute b blockwise
    themselves (float32 ``X @ E.T`` is accurate enough for most uses) and call the
    ``*_from_gram`` functions.
    """
    X = _pixels(X)
    E64 = _endmembers(E, X.shape[1])
    bT = np.empty((E64.shape[0], X.shape[0]))
    buf = np.empty((min(_BLOCK, X.shape[0]), X.shape[1]))
    for blk in _blocks(X.shape[0]):
        xb = buf[: blk.stop - blk.start]
        np.copyto(xb, X[blk])
        bT[:, blk] = E64 @ xb.T
    return E64 @ E64.T, bT.T


class _SupportSolver:
    """Least-squares minimisers restricted to a support set, cached per support.

    Arrays hold pixels along the LAST axis ((n, P), not (P, n)): OpenBLAS multiplies a
    small (n, n) matrix by an (n, P) array ~10x faster than a (P, n) array by (n, n).

    For the support S (a bit mask ``code``) the minimiser of ``0.5 a'Ga - b'a`` with
    ``a_j = 0`` off S (and ``sum(a) = 1`` when ``sum_to_one``) is affine in b:
    ``a = W b + w`` and the sum-to-one multiplier is ``nu = v b + v0``. The KKT matrix
    ``[[G_SS, 1], [1', 0]]`` is inverted with a pseudo-inverse, which still gives a
    minimiser on S when the endmembers in S are affinely dependent.
    """

    def __init__(self, G: np.ndarray, sum_to_one: bool):
        self.G = G
        self.n = G.shape[0]
        self.sum_to_one = sum_to_one
        self._cache: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, float]] = {}
        # For small n, supports are also kept in dense tables indexed by code, so pixels
        # with different supports are solved together by a gather + einsum (no per-support
        # Python loop); 2^12 supports x 12 x 12 float64 = 4.7 MB at most.
        self._tabled = self.n <= _TABLE_MAX_N
        if self._tabled:
            m = 1 << self.n
            self._have = np.zeros(m, dtype=bool)
            self._W = np.zeros((m, self.n, self.n))
            self._w = np.zeros((m, self.n))
            self._v = np.zeros((m, self.n))
            self._v0 = np.zeros(m)

    def matrices(self, code: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        hit = self._cache.get(code)
        if hit is not None:
            return hit
        n = self.n
        S = np.flatnonzero((code >> np.arange(n)) & 1)
        s = S.size
        W = np.zeros((n, n))
        w = np.zeros((n, 1))
        v = np.zeros(n)
        v0 = 0.0
        if s and self.sum_to_one:
            K = np.zeros((s + 1, s + 1))
            K[:s, :s] = self.G[np.ix_(S, S)]
            K[:s, s] = 1.0
            K[s, :s] = 1.0
            Ki = np.linalg.pinv(K, hermitian=True)
            W[np.ix_(S, S)] = Ki[:s, :s]
            w[S, 0] = Ki[:s, s]
            v[S] = Ki[s, :s]
            v0 = float(Ki[s, s])
        elif s:
            W[np.ix_(S, S)] = np.linalg.pinv(self.G[np.ix_(S, S)], hermitian=True)
        hit = (W, w, v, v0)
        self._cache[code] = hit
        if self._tabled:
            self._W[code], self._w[code], self._v[code], self._v0[code] = W, w[:, 0], v, v0
            self._have[code] = True
        return hit

    def solve(self, b: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Minimisers z (n, P) and multipliers nu (P,) for b (n, P) with supports ``codes``."""
        if codes.size and codes.min() == codes.max():
            W, w, v, v0 = self.matrices(int(codes[0]))
            return W @ b + w, v @ b + v0
        if self._tabled:
            for code in np.unique(codes[~self._have[codes]]):
                self.matrices(int(code))
            z = np.einsum("pij,jp->ip", self._W[codes], b)
            z += self._w[codes].T
            nu = np.einsum("pj,jp->p", self._v[codes], b)
            nu += self._v0[codes]
            return z, nu
        z = np.empty_like(b)
        nu = np.empty(b.shape[1])
        order = np.argsort(codes, kind="stable")
        cuts = np.flatnonzero(np.diff(codes[order])) + 1
        for cols in np.split(order, cuts):
            W, w, v, v0 = self.matrices(int(codes[cols[0]]))
            bg = b[:, cols]
            z[:, cols] = W @ bg + w
            nu[cols] = v @ bg + v0
        return z, nu


def _enumerate_supports(solver: _SupportSolver, b: np.ndarray) -> np.ndarray:
    """Exact fallback for b (n, P): the best feasible support minimiser over all supports.

    The optimum is the minimiser on its own support, so the feasible support minimiser of
    least objective is optimal. Cost grows as 2^n: used only for the rare pixels where the
    active-set iteration stalls on round-off.
    """
    G, n = solver.G, solver.n
    P = b.shape[1]
    best = np.zeros_like(b)
    best_f = np.full(P, np.inf)
    for code in range(1 if solver.sum_to_one else 0, 1 << n):
        z, _ = solver.solve(b, np.full(P, code))
        feasible = (z >= -1e-12).all(axis=0)
        z = np.maximum(z, 0.0)
        if solver.sum_to_one:
            z /= np.maximum(z.sum(axis=0), 1e-300)
        f = 0.5 * np.einsum("ij,ij->j", G @ z, z) - np.einsum("ij,ij->j", b, z)
        better = feasible & (f < best_f)
        best[:, better] = z[:, better]
        best_f[better] = f[better]
    return best


def _kkt_mu(G: np.ndarray, z: np.ndarray, b: np.ndarray, nu: np.ndarray) -> np.ndarray:
    """Multipliers of the constraints a >= 0: mu = G z - b + nu (n, P)."""
    mu = G @ z
    mu -= b
    mu += nu
    return mu


def _active_set(
    solver: _SupportSolver, b: np.ndarray, *, pd_iterations: int | None = None
) -> np.ndarray:
    """Exact minimiser of ``0.5 a'Ga - b'a`` s.t. a >= 0 (and sum(a) = 1) for each column of b.

    ``solver`` holds ``G`` (n, n) (scaled to unit mean diagonal, so the multiplier
    tolerance is unitless) and whether sum(a) = 1 is imposed; ``b`` (n, P) float64, pixels
    along the last axis, scaled like G. ``pd_iterations`` caps stage 1 (default n + 3; 0
    skips it, which tests use to exercise stage 2). Returns A (n, P) float64.

    The optimum a* is characterised by its support S (KKT conditions, sufficient since the
    problem is convex): a* is the equality-constrained minimiser on S, it is >= 0, and the
    multipliers ``mu = G a* - b + nu`` of the zero components are >= 0. Two vectorised
    stages find S for all pixels at once; each iteration solves every remaining pixel on
    its current S (:meth:`_SupportSolver.solve`), then updates the supports:

    1. Primal-dual active set (Hintermueller, Ito & Kunisch 2002): start from S = all and
       set S <- {j in S: z_j > 0} + {j not in S: mu_j < 0}. Verified optimal pixels leave;
       this settles almost every pixel in 2-4 products but may cycle.
    2. The rest run a primal active-set method (Lawson & Hanson 1974, ch. 23; with the
       sum-to-one equality as in Heinz & Chang 2001) from the strictly feasible a = 1/n:
       move towards the support minimiser z until a component hits 0 (it leaves S); at a
       feasible z, the component with most negative mu enters S. The objective decreases
       monotonically, so it terminates in exact arithmetic.
    3. Pixels still unresolved after an iteration cap (round-off cycling) are solved by
       enumerating the supports (:func:`_enumerate_supports`).
    """
    n, P = b.shape
    G, sum_to_one = solver.G, solver.sum_to_one
    tol_mu = 1e-10
    pow2 = np.left_shift(1, np.arange(n, dtype=np.int64))
    out = np.empty((n, P))

    # Stage 1: primal-dual active set.
    active = np.arange(P)
    S = np.ones((n, P), dtype=bool)
    for _ in range(n + 3 if pd_iterations is None else pd_iterations):
        if active.size == 0:
            break
        ba = b[:, active]
        z, nu = solver.solve(ba, pow2 @ S)
        mu = _kkt_mu(G, z, ba, nu)
        inside = S & (z > 0.0)
        entering = ~S & (mu < -tol_mu)
        done = ~(S & (z < 0.0)).any(axis=0) & ~entering.any(axis=0)
        out[:, active[done]] = z[:, done]
        S = (inside | entering)[:, ~done]
        if sum_to_one:
            # An empty support has no sum-to-one solution: restart from the best vertex.
            empty = ~S.any(axis=0)
            if empty.any():
                zz = z[:, ~done][:, empty]
                S[:, empty] = np.arange(n)[:, None] == np.argmax(zz, axis=0)
        active = active[~done]
    if active.size:
        log.debug("active set: %d of %d pixels left after primal-dual stage", active.size, P)

    # Stage 2: primal active set from the interior.
    a = np.full((n, active.size), 1.0 / n)
    S = np.ones((n, active.size), dtype=bool)
    for _ in range(4 * n + 20):
        if active.size == 0:
            break
        ba = b[:, active]
        z, nu = solver.solve(ba, pow2 @ S)
        blocking = S & (z <= 0.0)
        blocked = blocking.any(axis=0)

        free = ~blocked
        zf = z[:, free]
        mu = _kkt_mu(G, zf, ba[:, free], nu[free])
        mu[S[:, free]] = np.inf
        j_in = np.argmin(mu, axis=0)
        optimal = mu[j_in, np.arange(zf.shape[1])] >= -tol_mu
        out[:, active[free][optimal]] = zf[:, optimal]
        a_grow = zf[:, ~optimal]
        S_grow = S[:, free][:, ~optimal]
        S_grow[j_in[~optimal], np.arange(a_grow.shape[1])] = True

        ab = a[:, blocked]
        zb = z[:, blocked]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(blocking[:, blocked], ab / (ab - zb), np.inf)
        j_out = np.argmin(ratio, axis=0)
        cols = np.arange(ab.shape[1])
        a_step = ab + ratio[j_out, cols] * (zb - ab)
        a_step[j_out, cols] = 0.0
        S_step = S[:, blocked] & (a_step > 1e-15)
        a_step[~S_step] = 0.0

        active = np.concatenate([active[free][~optimal], active[blocked]])
        a = np.concatenate([a_grow, a_step], axis=1)
        S = np.concatenate([S_grow, S_step], axis=1)
    if active.size:
        if n <= 16:
            log.debug("active set: enumerating supports for %d stalled pixels", active.size)
            out[:, active] = _enumerate_supports(solver, b[:, active])
        else:
            # 2^n supports are too many; the feasible iterate is within round-off of optimal.
            log.warning("active set: %d pixels kept at their last feasible iterate", active.size)
            out[:, active] = a
    np.maximum(out, 0.0, out=out)
    if sum_to_one:
        out /= out.sum(axis=0)
    return out


def _gram_args(G: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate (G, b) and return G (n, n) and b transposed to (n, N), both float64."""
    G = np.asarray(G, dtype=np.float64)
    b = np.asarray(b)
    if G.ndim != 2 or G.shape[0] != G.shape[1] or b.ndim != 2 or b.shape[1] != G.shape[0]:
        raise ValueError(f"Need G (n, n) and b (N, n); got G {G.shape} and b {b.shape}")
    # (n, N) layout: see _SupportSolver. No copy if b is a transposed (n, N) float64 array.
    return G, np.ascontiguousarray(b.T, dtype=np.float64)


def _solve_columns(G: np.ndarray, bT: np.ndarray, sum_to_one: bool) -> np.ndarray:
    """Active-set abundances (N, n) float32 for bT (n, N); NaN columns give NaN rows."""
    scale = float(np.mean(np.diag(G)))
    if not scale > 0.0:
        raise ValueError("Endmembers are all zero")
    # Scaling G and b alike leaves the abundances unchanged and makes tolerances unitless.
    solver = _SupportSolver(G / scale, sum_to_one)
    A = np.full(bT.shape[::-1], np.nan, dtype=np.float32)
    # Blocks of pixels keep the solver's (n, block) temporaries in cache.
    for blk in _blocks(bT.shape[1], _SOLVE_BLOCK):
        bb = bT[:, blk] / scale
        ok = np.isfinite(bb).all(axis=0)
        if ok.all():
            A[blk] = _active_set(solver, bb).T
        elif ok.any():
            A[blk][ok] = _active_set(solver, bb[:, ok]).T
    return A


def fcls_from_gram(G: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Fully constrained abundances from ``G = E E^T`` (n, n) and ``b = X E^T`` (N, n).

    Solves ``min ||x - a E||^2`` s.t. ``a >= 0``, ``sum(a) = 1`` exactly per pixel (Heinz &
    Chang 2001) with a vectorised active-set method (:func:`_active_set`); the cost per
    pixel is O(n^2) per iteration, independent of the number of bands. Pixels whose b has
    NaN get NaN abundances. Returns A (N, n) float32, rows >= 0 summing to 1.
    """
    G, bT = _gram_args(G, b)
    return _solve_columns(G, bT, sum_to_one=True)


def nnls_from_gram(G: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Non-negative abundances (Lawson & Hanson 1974) from G (n, n) and b (N, n).

    Solves ``min ||x - a E||^2`` s.t. ``a >= 0`` exactly per pixel; NaN rows of b give NaN.
    Returns A (N, n) float32.
    """
    G, bT = _gram_args(G, b)
    return _solve_columns(G, bT, sum_to_one=False)


def ucls_from_gram(G: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Unconstrained least-squares abundances ``G^+ b`` from G (n, n) and b (N, n).

    Returns A (N, n) float32 (may be negative and need not sum to 1), as pysptools' UCLS.
    """
    G, bT = _gram_args(G, b)
    A = np.linalg.pinv(G, hermitian=True) @ bT
    return np.ascontiguousarray(A.T, dtype=np.float32)


def fcls(X: np.ndarray, E: np.ndarray) -> np.ndarray:
    """Fully constrained least squares unmixing (Heinz & Chang 2001).

    ``X`` (N, B) float32 pixels, ``E`` (n, B) endmembers. Returns A (N, n) float32 with
    A >= 0 and rows summing to 1, the exact minimiser of ``||x - a E||`` per pixel.
    """
    return fcls_from_gram(*gram_products(X, E))


def nnls(X: np.ndarray, E: np.ndarray) -> np.ndarray:
    """Non-negative least squares unmixing: A (N, n) float32 >= 0 (no sum constraint)."""
    return nnls_from_gram(*gram_products(X, E))


def ucls(X: np.ndarray, E: np.ndarray) -> np.ndarray:
    """Unconstrained least squares unmixing: A (N, n) float32 (pysptools' UCLS)."""
    return ucls_from_gram(*gram_products(X, E))


#: Strategy table for ``unmix.method``: ``f(X, E) -> A (N, n) float32``.
UNMIX_METHODS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "fcls": fcls,
    "nnls": nnls,
    "ucls": ucls,
}

#: The same methods from precomputed ``(G, b)``: ``f(G, b) -> A (N, n) float32``.
UNMIX_FROM_GRAM: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "fcls": fcls_from_gram,
    "nnls": nnls_from_gram,
    "ucls": ucls_from_gram,
}


def unmix(X: np.ndarray, E: np.ndarray, method: str) -> np.ndarray:
    """Abundances A (N, n) float32 of pixels X (N, B) with ``UNMIX_METHODS[method]``.

    Raises ConfigError naming ``unmix.method`` for an unknown method.
    """
    if method not in UNMIX_METHODS:
        raise ConfigError(
            f"Unknown method {method!r} for unmix.method; must be one of {sorted(UNMIX_METHODS)}"
        )
    return UNMIX_METHODS[method](X, E)


# --------------------------------------------------------------------------------------
# similarity and classification
# --------------------------------------------------------------------------------------


def sam(X: np.ndarray, E: np.ndarray) -> np.ndarray:
    """Spectral angle (Kruse et al. 1993) between every pixel and every endmember.

    ``X`` (N, B) float32, ``E`` (n, B). Returns angles (N, n) float32 in radians, in
    [0, pi]; invariant to the scale of either spectrum. Cosines are computed in float64 on
    blocks of pixels (a float32 cosine would limit angles near 0 to ~3e-4 rad). Pixels (or
    endmembers) with zero norm or NaN give NaN.
    """
    X = _pixels(X)
    E64 = _endmembers(E, X.shape[1])
    e_norm = np.linalg.norm(E64, axis=1)
    out = np.empty((X.shape[0], E64.shape[0]), dtype=np.float32)
    # One float64 block buffer reused: fresh 20+ MB temporaries cost page faults each time.
    buf = np.empty((min(_BLOCK, X.shape[0]), X.shape[1]))
    for blk in _blocks(X.shape[0]):
        xb = buf[: blk.stop - blk.start]
        np.copyto(xb, X[blk])
        x_norm = np.sqrt(np.einsum("ij,ij->i", xb, xb))
        with np.errstate(divide="ignore", invalid="ignore"):
            cos = (xb @ E64.T) / (x_norm[:, None] * e_norm)
        out[blk] = np.arccos(np.clip(cos, -1.0, 1.0))
    return out


def products_with_norms(X: np.ndarray, E: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(G, b, xx)`` in one float64 pass over blocks of X: G = E E^T (n, n), b = X E^T (N, n)
    and xx = squared pixel norms (N,).

    Unmixing needs (G, b) and SAM needs b and xx (:func:`sam_from_products`), so a caller doing
    both reads each pixel once instead of twice.
    """
    X = _pixels(X)
    E64 = _endmembers(E, X.shape[1])
    bT = np.empty((E64.shape[0], X.shape[0]))
    xx = np.empty(X.shape[0])
    buf = np.empty((min(_BLOCK, X.shape[0]), X.shape[1]))
    for blk in _blocks(X.shape[0]):
        xb = buf[: blk.stop - blk.start]
        np.copyto(xb, X[blk])
        bT[:, blk] = E64 @ xb.T
        xx[blk] = np.einsum("ij,ij->i", xb, xb)
    return E64 @ E64.T, bT.T, xx


def sam_from_products(b: np.ndarray, xx: np.ndarray, E: np.ndarray) -> np.ndarray:
    """Spectral angles (N, n) float32 from ``b = X E^T`` (N, n) and ``xx = |x|^2`` (N,).

    The same angles as :func:`sam` (Kruse et al. 1993) without another pass over the bands.
    """
    E64 = np.asarray(E, dtype=np.float64)
    e_norm = np.linalg.norm(E64, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        cos = np.asarray(b, dtype=np.float64) / (np.sqrt(xx)[:, None] * e_norm)
    return np.arccos(np.clip(cos, -1.0, 1.0)).astype(np.float32)


def _probabilities(x: np.ndarray, floor: float, out: np.ndarray) -> np.ndarray:
    """SID probability vectors of spectra ``x`` (m, B) into float64 ``out`` (m, B).

    Clip to ``floor``, divide by the row sum, add eps = ``np.spacing(1)`` (as pysptools).
    """
    np.maximum(x, floor, out=out)  # also the float32 -> float64 cast, in one pass
    out *= 1.0 / out.sum(axis=1, keepdims=True)
    out += np.spacing(1)
    return out


def sid(X: np.ndarray, E: np.ndarray, *, floor: float = SID_FLOOR) -> np.ndarray:
    """Spectral information divergence (Chang 2000) between every pixel and endmember.

    ``X`` (N, B) float32, ``E`` (n, B). Each spectrum becomes a probability vector
    ``p = s / sum(s) + eps`` (eps = ``np.spacing(1)``, as pysptools) and
    ``SID(p, q) = sum(p log(p/q)) + sum(q log(q/p))``, expanded into matrix products
    ``sum p log p + sum q log q - p @ log(q)' - log(p) @ q'`` computed in float64 on blocks.
    Returns (N, n) float32 >= 0.

    Non-positive reflectance (noise in absorption bands) has no probability meaning and
    would make pysptools return NaN; here every value is first raised to ``floor``
    (default 1e-4, one NEON digital number), so spectra that are positive above the floor
    give exactly pysptools' definition. NaN pixels give NaN.
    """
    X = _pixels(X)
    E64 = _endmembers(E, X.shape[1])
    q = _probabilities(E64, floor, np.empty_like(E64))
    log_q = np.log(q)
    q_log_q = np.einsum("ij,ij->i", q, log_q)
    out = np.empty((X.shape[0], q.shape[0]), dtype=np.float32)
    # Two float64 block buffers reused (see sam()).
    m = min(_BLOCK, X.shape[0])
    p_buf, log_buf = np.empty((m, X.shape[1])), np.empty((m, X.shape[1]))
    for blk in _blocks(X.shape[0]):
        p = _probabilities(X[blk], floor, p_buf[: blk.stop - blk.start])
        log_p = np.log(p, out=log_buf[: p.shape[0]])
        d = p @ log_q.T
        d -= np.einsum("ij,ij->i", p, log_p)[:, None]
        d += log_p @ q.T
        d -= q_log_q
        # SID = -(that); it is >= 0 but the expansion can leave -1e-16 from cancellation.
        np.negative(d, out=d)
        out[blk] = np.maximum(d, 0.0)
    return out


#: Strategy table for the similarity measure used by classification.
CLASSIFIERS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {"sam": sam, "sid": sid}


def classify(
    scores: np.ndarray,
    thresholds: float | Sequence[float] | np.ndarray | None = None,
    *,
    key: str = "classify.thresholds",
) -> np.ndarray:
    """Minimum-distance class map from similarity scores (smaller = more similar).

    ``scores`` (N, n), e.g. :func:`sam` angles (radians) or :func:`sid` values.
    ``thresholds``: None (every pixel classified), one number for all classes, or a sequence
    of n numbers (one per class), in the scores' units. A class is a candidate for a pixel
    only if its score is <= its threshold; the pixel gets 1 + the index of the best
    candidate, or 0 (unclassified) if there is none. With one threshold this is simply
    "1 + argmin, 0 if the best score exceeds the threshold"; with per-class thresholds a
    pixel just outside a tight class may fall in a looser one, which is how pysptools
    (``_multiple_values_min``) and ENVI treat per-class maximum angles. NaN scores never
    qualify, so all-NaN pixels get 0 (the caller sets nodata).

    Returns (N,) uint8. Raises ConfigError naming ``key`` for a malformed threshold.
    """
    s = np.asarray(scores)
    if s.ndim != 2:
        raise ValueError(f"scores must be (pixels, classes); got shape {s.shape}")
    n = s.shape[1]
    if n > 255:
        raise ConfigError(f"At most 255 classes fit a uint8 class map; {key} refers to {n}")
    if thresholds is None:
        limit = np.full(n, np.inf)
    elif isinstance(thresholds, numbers.Real) and not isinstance(thresholds, bool):
        limit = np.full(n, float(thresholds))
    else:
        try:
            limit = np.asarray(thresholds, dtype=np.float64)
        except (TypeError, ValueError):
            raise ConfigError(
                f"{key} must be a number or a list of {n} numbers; got {thresholds!r}"
            ) from None
        if limit.ndim != 1 or limit.size != n:
            raise ConfigError(
                f"{key} must be a number or a list of {n} numbers (one per endmember); got "
                f"{thresholds!r} ({limit.size} values)"
            )
    if np.isnan(limit).any() or (limit < 0).any():
        raise ConfigError(f"{key} must be >= 0 (scores are distances); got {thresholds!r}")
    with np.errstate(invalid="ignore"):
        masked = np.where(s <= limit, s, np.inf)  # NaN <= x is False: NaN never qualifies
    best = np.argmin(masked, axis=1)
    hit = np.isfinite(masked[np.arange(s.shape[0]), best])
    return np.where(hit, best + 1, 0).astype(np.uint8)


# --------------------------------------------------------------------------------------
# spectral libraries
# --------------------------------------------------------------------------------------


def resample_spectra(
    wavelengths_src: np.ndarray, spectra: np.ndarray, wavelengths_dst: np.ndarray
) -> np.ndarray:
    """Linearly interpolate spectra from one band set to another.

    ``wavelengths_src`` (Bs,) nm, strictly increasing; ``spectra`` (Bs,) or (n, Bs);
    ``wavelengths_dst`` (Bd,) nm. Returns float64 (Bd,) or (n, Bd). Raises ConfigError
    naming ``endmembers.library`` if the destination bands are not inside the source range
    (no extrapolation) or the source wavelengths are not strictly increasing.
    """
    src = np.asarray(wavelengths_src, dtype=np.float64)
    dst = np.asarray(wavelengths_dst, dtype=np.float64)
    S = np.asarray(spectra, dtype=np.float64)
    if src.ndim != 1 or S.shape[-1] != src.size or S.ndim not in (1, 2) or dst.ndim != 1:
        raise ValueError(
            f"Need wavelengths_src (B,), spectra (B,) or (n, B), wavelengths_dst (Bd,); got "
            f"{src.shape}, {S.shape}, {dst.shape}"
        )
    if src.size < 2 or not (np.diff(src) > 0).all():
        raise ConfigError(
            "endmembers.library wavelengths must be strictly increasing with at least 2 bands"
        )
    tol = 1e-6  # nm: forgive float formatting of identical band centres
    lo, hi = float(dst.min()), float(dst.max())
    if lo < src[0] - tol or hi > src[-1] + tol:
        raise ConfigError(
            f"endmembers.library covers {src[0]:g}-{src[-1]:g} nm but the image bands span "
            f"{lo:g}-{hi:g} nm; supply library spectra covering every band kept in the image "
            "(values are not extrapolated)."
        )
    x = np.clip(dst, src[0], src[-1])
    right = np.clip(np.searchsorted(src, x, side="right"), 1, src.size - 1)
    left = right - 1
    w = (x - src[left]) / (src[right] - src[left])
    return S[..., left] * (1.0 - w) + S[..., right] * w


def write_endmember_csv(
    path: str | os.PathLike,
    wavelengths: np.ndarray,
    E: np.ndarray,
    names: Sequence[str] | None = None,
) -> None:
    """Write endmembers as CSV: one row per band, ``wavelength_nm,em1,em2,...``.

    ``wavelengths`` (B,) nm, ``E`` (n, B); ``names`` default ``em1..emn``. Values are
    written with full (round-trip) precision; the file appears atomically.
    """
    wl = np.asarray(wavelengths, dtype=np.float64)
    E = np.asarray(E, dtype=np.float64)
    if E.ndim != 2 or wl.ndim != 1 or E.shape[1] != wl.size:
        raise ValueError(f"Need wavelengths (B,) and E (n, B); got {wl.shape} and {E.shape}")
    names = [f"em{i + 1}" for i in range(E.shape[0])] if names is None else list(names)
    if len(names) != E.shape[0] or len(set(names)) != len(names):
        raise ValueError(f"Need {E.shape[0]} distinct endmember names; got {names}")
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["wavelength_nm", *names])
        for b in range(wl.size):
            writer.writerow([repr(float(wl[b])), *(repr(float(v)) for v in E[:, b])])


def read_endmember_csv(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read an endmember CSV written by :func:`write_endmember_csv` (or by hand).

    Format: a header ``wavelength_nm,<name1>,<name2>,...`` then one row per band of numbers
    (blank lines ignored), wavelengths strictly increasing. Returns
    ``(wavelengths (B,) float64 nm, E (n, B) float64, names)``. Raises InputDataError naming
    the file (and line) if it is malformed.
    """
    path = Path(path)

    def bad(msg: str) -> InputDataError:
        return InputDataError(
            f"Endmember library {path}: {msg}. Expected a CSV with header "
            "'wavelength_nm,em1,em2,...' and one row of numbers per band."
        )

    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = [(i + 1, r) for i, r in enumerate(csv.reader(fh)) if any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise InputDataError(f"Cannot read endmember library {path}: {err}") from err
    if not rows:
        raise bad("the file is empty")
    header = [c.strip() for c in rows[0][1]]
    if header[0] != "wavelength_nm":
        raise bad(f"the first column must be 'wavelength_nm', found {header[0]!r}")
    names = header[1:]
    if not names or any(not nm for nm in names) or len(set(names)) != len(names):
        raise bad(f"need one or more distinct, non-empty endmember names; header is {header}")
    if len(rows) < 3:
        raise bad(f"need at least 2 band rows, found {len(rows) - 1}")
    values = np.empty((len(rows) - 1, len(header)))
    for r, (line, row) in enumerate(rows[1:]):
        if len(row) != len(header):
            raise bad(f"line {line} has {len(row)} fields, the header has {len(header)}")
        try:
            values[r] = [float(c) for c in row]
        except ValueError:
            raise bad(f"line {line} holds a value that is not a number: {row}") from None
    if not np.isfinite(values).all():
        line = rows[1 + int(np.flatnonzero(~np.isfinite(values).all(axis=1))[0])][0]
        raise bad(f"line {line} holds NaN or infinity")
    wl = values[:, 0]
    if not (np.diff(wl) > 0).all():
        raise bad("wavelengths must be strictly increasing")
    return wl, np.ascontiguousarray(values[:, 1:].T), names
