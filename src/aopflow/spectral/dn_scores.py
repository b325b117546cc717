"""The per-tile chain's kernel: unmixing products, SAM and SID of digital numbers in one pass.

A NEON cube stores reflectance as integers (``dn / scale``). :class:`DnScorer` takes a block
of those integers, in either layout the reader hands out (band-major ``(B, N)`` views of a
2022+ band-per-chunk cube, or pixel-major ``(N, B)`` blocks of a legacy cube) and, for every
pixel, computes what the chain needs against fixed endmembers ``E`` (n, B):

* ``b = X E^T`` (N, n), the cross products every unmixing method starts from;
* SAM angles (:func:`aopflow.spectral.sam`) from ``b`` and the pixel norms;
* SID divergences (:func:`aopflow.spectral.sid`), scale-free from the digital numbers ``d``
  raised to the floor (``d = max(dn, floor * scale)``)::

      SID = (sum(d log d) - d @ log(q)') / sum(d) - log(d) @ q' + sum(q log q)

  (``p = d / sum(d)`` and ``SID = sum(p log p) - p @ log(q)' - log(p) @ q' + sum(q log q)``;
  the ``log sum(d)`` and ``log scale`` terms cancel because p and q each sum to one).
  pysptools' eps = 2.2e-16 added to p is dropped: with the floor, p >= floor / sum is 1e-9 or
  more, so it changes nothing beyond the ninth digit.

All arithmetic is float64, as in those functions, and they are its tests. It runs on
sub-blocks of about a hundred pixels whose float64 temporaries stay in the core's L2 cache: each
digital number is converted once, one matrix product gives b, the SID products and the pixel
sums together, ``log d`` comes from a table indexed by the digital numbers themselves (no
logarithm and no index array per value), and nothing of size (N, B) is ever float; the
per-pixel finishing (divisions, arccos) runs once per call over all its pixels. This replaced
three passes that each streamed the block through memory (float32 reflectance, float64
products, the SID gathers and products), in about 60 % of their time per value. NumPy and
BLAS release the GIL, so the job's threads score blocks in parallel. A numba kernel of the
same sums (eight bands per register pass) was tried and left out: a tenth off the whole chain,
for a compiled dependency, seconds of compilation on first use, import and cache loading in
every job and more memory. The measured costs of each version: docs/performance.md,
"The chain's kernel".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from aopflow.errors import InputDataError
from aopflow.spectral.similarity import SID_FLOOR, sid_probabilities

#: Pixels per sub-block: the two (B, 128) float64 scratch buffers are 0.37 MB each for 362
#: bands, about a core's L2 (512 KB on the development VM). Measured with 1 and 2 threads
#: (medians of 5 interleaved rounds): 128 is 5-15 % faster than 96, 192 and 256, 2048 30 % slower.
SUB_BLOCK = 128

#: Widest digital-number range tabulated for ``log d`` (entries); wider ranges (int32 cubes
#: holding unusual values) take the logarithm per value instead.
_MAX_TABLE = 1 << 20


class DnScorer:
    """Scores of integer-coded pixels against endmembers ``E`` (n, B); see the module doc.

    ``scale``: reflectance = dn / scale (the cube's ``Scale_Factor``). Call with ``dn`` (2-D
    integers) and ``band_axis`` (0: ``dn`` is (B, N), 1: (N, B)); any strides.
    """

    def __init__(self, E: np.ndarray, scale: float, *, floor: float = SID_FLOOR, sub_block: int = SUB_BLOCK):
        E64 = np.asarray(E, dtype=np.float64)
        if E64.ndim != 2 or E64.shape[0] < 1 or not np.isfinite(E64).all():
            raise InputDataError(f"endmembers must be a finite (n, B) array; got shape {E64.shape}")
        if not scale > 0:
            raise InputDataError(f"scale factor must be > 0; got {scale}")
        self.n, self.bands = E64.shape
        self.scale = float(scale)
        self.clip = float(floor) * self.scale  # the SID floor in digital numbers
        self.sub_block = max(1, int(sub_block))
        self.e_norm = np.linalg.norm(E64, axis=1)
        q = sid_probabilities(E64, floor, np.empty_like(E64))
        log_q = np.log(q)
        self.q = q
        self.q_log_q = np.einsum("ij,ij->i", q, log_q)
        # One product gives b (E / scale), the SID cross products (log q) and the pixel sums.
        self.W = np.vstack([E64 / self.scale, log_q, np.ones((1, self.bands))])

    def __call__(self, dn: np.ndarray, band_axis: int,
                 runs: Sequence[tuple[int, int]] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(b, sam, sid)`` of the pixels in ``dn``: b (N, n) float64, angles (radians) and
        divergences (N, n) float32 (views of (n, N) arrays). ``runs``: only the pixels in
        these ``[start, stop)`` ranges of the pixel axis, in order (N = their total)."""
        dn = np.asarray(dn)
        if dn.ndim != 2 or dn.dtype.kind not in "iu" or band_axis not in (0, 1):
            raise InputDataError(f"DnScorer needs a 2-D integer array and band_axis 0 or 1; got {dn.dtype} "
                                 f"{dn.shape}, band_axis {band_axis}")
        if dn.shape[band_axis] != self.bands:
            raise InputDataError(f"pixels have {dn.shape[band_axis]} bands, the endmembers {self.bands}")
        bm = dn if band_axis == 0 else dn.T  # (B, pixels), any strides
        runs = np.asarray([(0, bm.shape[1])] if runs is None else runs, dtype=np.int64).reshape(-1, 2)
        N = int((runs[:, 1] - runs[:, 0]).sum())
        n = self.n
        b = np.empty((n, N))
        sam = np.empty((n, N), dtype=np.float32)
        sid = np.empty((n, N), dtype=np.float32)
        if N == 0:
            return b.T, sam.T, sid.T
        lo, hi = int(dn.min()), int(dn.max())
        if -_MAX_TABLE < lo and hi < _MAX_TABLE:
            # log d of every digital number v in the block's range (d raised to the floor), at
            # position v mod len: indexed by the integers themselves with take(mode="wrap"),
            # negative values wrap to the end (no index array is computed).
            size = max(hi, 0) + 1 + max(-lo, 0)
            values = np.arange(size, dtype=np.float64)
            values[max(hi, 0) + 1 :] -= size  # the wrapped (negative) values
            table = np.log(np.maximum(values, self.clip))
        else:
            table = np.empty(0)
        # Per pixel, the sums the sub-blocks accumulate: rows of W @ d (b, the SID cross
        # products u, the pixel sum S), |d|^2, sum(d log d) and log(d) @ q'.
        acc = np.empty((self.W.shape[0], N))
        xx, t = np.empty(N), np.empty(N)
        v = np.empty((n, N))
        m = min(self.sub_block, N)
        # Sub-blocks in the input's own layout: (B, k) slices of band-major input, (k, B) rows
        # of pixel-major input (a transposed view would cost two strided gathers per value).
        if band_axis == 0:
            F, L = np.empty((self.bands, m)), np.empty((self.bands, m))
        else:
            F, L = np.empty((m, self.bands)), np.empty((m, self.bands))
            R = np.empty((m, acc.shape[0] + n))  # per pixel: its column of acc, then of v
        col = 0
        for start, stop in runs.tolist():
            for j0 in range(start, stop, m):
                k = min(m, stop - j0)
                c = slice(col, col + k)
                if band_axis == 0:
                    self._sums(bm[:, j0 : j0 + k], table, F[:, :k], L[:, :k], acc[:, c], xx[c], t[c], v[:, c])
                else:
                    self._sums_pixel_major(dn[j0 : j0 + k], table, F[:k], L[:k], R[:k], xx[c], t[c])
                    acc[:, c] = R[:k, : acc.shape[0]].T
                    v[:, c] = R[:k, acc.shape[0] :].T
                col += k
        # The per-pixel finishing, vectorised over all N pixels at once.
        bb, u, S = acc[:n], acc[n : 2 * n], acc[2 * n]
        d = t - u
        d /= S
        d -= v
        d += self.q_log_q[:, None]
        np.maximum(d, 0.0, out=d)
        sid[...] = d
        b[...] = bb
        with np.errstate(divide="ignore", invalid="ignore"):
            cos = bb * self.scale
            cos /= np.sqrt(xx) * self.e_norm[:, None]
        np.clip(cos, -1.0, 1.0, out=cos)
        sam[...] = np.arccos(cos)
        return b.T, sam.T, sid.T

    def _sums(self, D, table, f, lg, acc, xx, t, v) -> None:
        """The passes over one sub-block ``D`` (B, k) of integers: ``f`` and ``lg`` are (B, k)
        float64 scratch; the per-pixel sums go into ``acc`` (2n + 1, k), ``xx``, ``t`` (k,)
        and ``v`` (n, k)."""
        n = self.n
        np.copyto(f, D, casting="unsafe")
        np.einsum("ij,ij->j", f, f, out=xx)
        if f.min() < self.clip:
            # b and the norms use the values as stored; SID the values raised to the floor.
            np.matmul(self.W[:n], f, out=acc[:n])
            np.maximum(f, self.clip, out=f)
            np.matmul(self.W[n:], f, out=acc[n:])
        else:
            np.matmul(self.W, f, out=acc)
        if table.size:
            # Every value has its entry, so "wrap" only maps negatives; the default
            # mode="raise" buffers the whole output when out= is given (3.5x slower), and
            # subtracting the minimum to index a [lo, hi] table costs a pass (0.9 ns a value).
            np.take(table, D, out=lg, mode="wrap")
        else:
            np.log(f, out=lg)
        np.einsum("ij,ij->j", f, lg, out=t)
        np.matmul(self.q, lg, out=v)


    def _sums_pixel_major(self, D, table, f, lg, r, xx, t) -> None:
        """:meth:`_sums` of a pixel-major sub-block ``D`` (k, B): ``f``, ``lg`` (k, B) scratch;
        per pixel, ``r`` (k, 3n + 1) gets its rows of W @ d then of q @ log d."""
        n, w = self.n, self.W.shape[0]
        np.copyto(f, D, casting="unsafe")
        np.einsum("ij,ij->i", f, f, out=xx)
        if f.min() < self.clip:
            np.matmul(f, self.W[:n].T, out=r[:, :n])
            np.maximum(f, self.clip, out=f)
            np.matmul(f, self.W[n:].T, out=r[:, n:w])
        else:
            np.matmul(f, self.W.T, out=r[:, :w])
        if table.size:
            np.take(table, D, out=lg, mode="wrap")
        else:
            np.log(f, out=lg)
        np.einsum("ij,ij->i", f, lg, out=t)
        np.matmul(lg, self.q.T, out=r[:, w:])


def pixel_matrix(raw: np.ndarray) -> tuple[np.ndarray, int]:
    """A reader block ``raw`` (rows, cols, B) as a 2-D pixel matrix without copying when the
    layout allows: ``(raw.reshape(-1, B), 1)`` for pixel-major blocks, ``((B, rows * cols)
    view, 0)`` for band-major views (2022+ cubes), else a pixel-major copy."""
    if raw.flags.c_contiguous:
        return raw.reshape(-1, raw.shape[-1]), 1
    bm = np.moveaxis(raw, -1, 0)
    rows, cols = raw.shape[:2]
    item = raw.dtype.itemsize
    if bm.strides[2] == item and (rows == 1 or bm.strides[1] == cols * item):
        return np.lib.stride_tricks.as_strided(bm, shape=(bm.shape[0], rows * cols),
                                               strides=(bm.strides[0], item), writeable=False), 0
    return np.ascontiguousarray(raw).reshape(-1, raw.shape[-1]), 1


def valid_runs(valid: np.ndarray) -> np.ndarray:
    """``[start, stop)`` ranges (k, 2) of the True values of a flat bool array."""
    v = np.concatenate(([False], np.asarray(valid, dtype=bool).ravel(), [False]))
    edges = np.flatnonzero(v[1:] != v[:-1])
    return edges.reshape(-1, 2)


def valid_columns(dn: np.ndarray, valid: np.ndarray, band_axis: int) -> np.ndarray:
    """The pixels of ``dn`` where ``valid`` (flat bool) is True, in the same layout (a copy)."""
    keep = np.flatnonzero(valid)
    return dn[:, keep] if band_axis == 0 else dn[keep]
