"""Endmember extraction: PCA reduction, simplex volume, ATGP (Ren & Chang 2003), N-FINDR
(Winter 1999), PPI (Boardman et al. 1995). Each returns ``(E, idx)``: E (n, B) float32 rows of
``X``, idx (n,) int64.
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Callable, Sequence

import numpy as np
import scipy.linalg

from aopflow.errors import ConfigError
from aopflow.spectral.checks import BLOCK, as_pixels, row_blocks

log = logging.getLogger(__name__)

#: A principal direction whose variance is below this fraction of the largest one is treated
#: as absent when deciding whether the data can support n endmembers. 1e-8 in variance is
#: 1e-4 in standard deviation: far below sensor noise in real reflectance (so real tiles
#: always pass) and far above float32 round-off (so degenerate samples are caught).
_RANK_RTOL = 1e-8


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
    for blk in row_blocks(X.shape[0], 8 * BLOCK):
        if not np.isfinite(X[blk]).all():
            raise ValueError(
                "X contains NaN or infinite values; drop nodata pixels first "
                "(extract_endmembers() does this)"
            )


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
    X = as_pixels(X)
    N, B = X.shape
    k = int(n_components)
    if not 1 <= k <= B:
        raise ValueError(f"n_components must be in 1..{B}; got {n_components}")
    mean = X.mean(axis=0, dtype=np.float64)
    mean_x = mean.astype(X.dtype)
    cov = np.zeros((B, B))
    buf = np.empty((min(N, 8 * BLOCK), B), dtype=X.dtype)
    for blk in row_blocks(N, buf.shape[0]):
        xc = np.subtract(X[blk], mean_x, out=buf[: blk.stop - blk.start])
        cov += xc.T @ xc
    # Only the k leading eigenvectors are needed; LAPACK syevx on that subset is much faster
    # than a full eigendecomposition (and far less sensitive to BLAS thread contention).
    _, vecs = scipy.linalg.eigh(cov, subset_by_index=[B - k, B - 1], driver="evx")
    comps = np.ascontiguousarray(vecs[:, ::-1])
    comps_x = comps.astype(X.dtype)
    Y = np.empty((N, k))
    for blk in row_blocks(N, buf.shape[0]):
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




def _atgp_indices(X: np.ndarray, n: int, *, check_rank: bool = True) -> np.ndarray:
    """ATGP pixel indices (n,) for any (N, d) array; ConfigError if linear rank < n.

    With ``check_rank=False`` picks continue past the data's rank (decided by round-off),
    as pysptools does when it runs ATGP for n vertices on n-1 PCA scores.
    """
    N = X.shape[0]
    buf = np.empty((min(BLOCK, N), X.shape[1]))

    def block64(blk: slice) -> np.ndarray:
        xb = buf[: blk.stop - blk.start]
        np.copyto(xb, X[blk])
        return xb

    energy = np.empty(N)
    for blk in row_blocks(N):
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
        for blk in row_blocks(N):
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
    X = as_pixels(X)
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
    X = as_pixels(X)
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
    X = as_pixels(X)
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
    for cols in row_blocks(skewers.shape[1], 256):
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
    X = as_pixels(X)
    valid = np.ones(X.shape[0], dtype=bool)
    for blk in row_blocks(X.shape[0], 8 * BLOCK):
        valid[blk] = np.isfinite(X[blk]).all(axis=1)
    if not valid.all():
        X = X[valid]
    _check_n(n, *X.shape)
    E, _ = ENDMEMBER_METHODS[method](X, n, seed=seed)
    return E.astype(np.float32)
