"""Linear unmixing from the Gram matrix ``G = E E^T`` and cross products ``b = X E^T``:
FCLS (Heinz & Chang 2001), NNLS (Lawson & Hanson 1974), UCLS. Abundances ``A`` (N, n) float32.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from aopflow.errors import ConfigError
from aopflow.spectral.checks import BLOCK, as_endmembers, as_pixels, row_blocks

log = logging.getLogger(__name__)

#: Pixels per block in the abundance solvers (keeps their (n, block) temporaries in cache).
_SOLVE_BLOCK = 65536

#: Largest n for which the abundance solvers tabulate all 2^n support matrices.
_TABLE_MAX_N = 12


def gram_products(X: np.ndarray, E: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(G, b)``: G = E E^T (n, n) float64 and b = X E^T (N, n) float64.

    b is computed in float64 on blocks of pixels (each block converted from float32), so no
    (N, B) float64 array is allocated; it is returned as the transpose of an (n, N) array,
    the layout the solvers use. Callers that stream a tile may compute b blockwise
    themselves (float32 ``X @ E.T`` is accurate enough for most uses) and call the
    ``*_from_gram`` functions.
    """
    X = as_pixels(X)
    E64 = as_endmembers(E, X.shape[1])
    bT = np.empty((E64.shape[0], X.shape[0]))
    buf = np.empty((min(BLOCK, X.shape[0]), X.shape[1]))
    for blk in row_blocks(X.shape[0]):
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
    for blk in row_blocks(bT.shape[1], _SOLVE_BLOCK):
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
