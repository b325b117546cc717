"""One-pass pixel selection in a tile: a uniform random sample and candidate-pure pixels.

Both selectors consume the tile's raw integer row blocks (``(rows, cols, B)`` of the kept
bands, as :meth:`aopflow.neon.reader.NeonTile.iter_blocks` yields them, in either memory
layout) while the cube is read once; neither ever converts a whole block to float (only the
pixels they keep, and a few bands for the skewers), and never to float64.

A pixel is taken as valid when none of the bands it is screened on (:func:`aopflow.clean.valid_mask`; the
stage screens on the skewers' bands, as NEON marks a pixel no-data in all its bands) is
no-data; a kept pixel with a no-data band elsewhere is dropped when its spectrum is read.

* :class:`StreamingSample` - ``k`` valid pixels drawn uniformly without replacement: every
  pixel gets a seeded random key and the ``k`` valid pixels with the smallest keys are kept
  (a bottom-k reservoir), so the sample needs no prior pass to count the valid pixels.
* :class:`SkewerCandidates` - the pixels that are extreme (largest or smallest projection)
  along random directions ("skewers", as in the Pixel Purity Index of Boardman, Kruse &
  Green 1995) in a reduced spectral space. Every pure pixel of a material that is a vertex
  of the data simplex is the extreme of all skewers in that vertex's normal cone, however
  few pixels it has, so a small pure patch that a random sample misses is still found. The
  number of candidates is bounded by ``2 x n_skewers``.

The reduced space is data-independent, so skewer extremes can be tracked block by block
(a running maximum per skewer equals the maximum over the whole tile, whatever the block
size): ``n_dims`` bands spread evenly over the kept bands, each the mean of ``width``
adjacent bands (averaging lowers the noise; picking few bands keeps the cost a few per cent
of decompressing the cube). Measured on generated sites whose rare materials' only pure pixels
are one 4 x 4 patch (the rare-material scenarios of ``tests/test_spectral_tile.py``): every
material's pure pixels are among the candidates of every tile holding them, and the site
endmembers are as close to the truth as N-FINDR on all pixels. A prototype that whitened the
skewers with each block's own covariance found no more materials and fewer of the roof's
pixels, so the simpler fixed space is used.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Reduced-space size: ``N_DIMS`` bands spread over the kept bands, each the mean of ``WIDTH``
#: adjacent bands: 12 x 2 of 362 kept NEON bands (one every ~170 nm), so 1/15 of a block's
#: values are touched. 24 x 3 passed the same acceptance scenarios at about twice the CPU cost.
N_DIMS = 12
WIDTH = 2

#: Pixels per projection chunk: the (n_skewers, chunk) float32 projections (1.6 MB for 100
#: skewers) are reduced while still in cache, and never exist for a whole block.
_CHUNK = 4096


def _spectra(raw: np.ndarray, flat_idx: np.ndarray, scale: float, nodata: float) -> np.ndarray:
    """Reflectance (len(flat_idx), B) float32 of the given pixels (row-major block indices);
    all NaN for a pixel with any ``nodata`` band."""
    if raw.flags.c_contiguous:
        vals = raw.reshape(-1, raw.shape[-1])[flat_idx]
    else:
        bands = np.moveaxis(raw, -1, 0)
        if bands.strides[1:] == (raw.shape[1] * raw.itemsize, raw.itemsize):  # band images
            vals = bands.reshape(bands.shape[0], -1)[:, flat_idx].T  # band by band: cache-friendly
        else:
            vals = raw[np.divmod(flat_idx, raw.shape[1])]
    x = vals.astype(np.float32)
    x *= np.float32(1.0 / scale)  # as aopflow.clean.to_reflectance: bit-identical to what the chain unmixes
    x[np.any(vals == nodata, axis=1)] = np.nan
    return x


def _complete(pixels: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop the pixels marked NaN by :func:`_spectra` (a no-data band outside the screen)."""
    ok = ~np.isnan(pixels[:, 0]) if pixels.shape[1] else np.ones(pixels.shape[0], bool)
    return (pixels, positions) if ok.all() else (pixels[ok], positions[ok])


class StreamingSample:
    """Uniform random sample of ``k`` valid pixels of a tile, built block by block.

    Pixel ``p`` (row-major position in the tile) gets key ``u_p`` from a generator seeded
    with ``seed``, drawn in position order, so the keys - and the sample - do not depend on
    how the tile is cut into blocks. Memory: k x B float32.
    """

    def __init__(self, k: int, n_bands: int, *, scale: float, nodata: float, seed: int):
        self.k = int(k)
        self.scale, self.nodata = float(scale), float(nodata)
        self._rng = np.random.default_rng(seed)
        self.keys = np.empty(0)
        self.positions = np.empty(0, dtype=np.int64)
        self.pixels = np.empty((0, n_bands), dtype=np.float32)
        self.n_valid = 0

    def update(self, raw: np.ndarray, valid: np.ndarray, first_pos: int) -> None:
        """Offer a raw block (rows, cols, B) whose first pixel has tile position ``first_pos``."""
        keys = self._rng.random(valid.size)
        idx = np.flatnonzero(valid.ravel())
        self.n_valid += idx.size
        if self.k == 0 or idx.size == 0:
            return
        kk = keys[idx]
        if self.keys.size == self.k:  # only keys below the current k-th can enter
            below = kk < self.keys.max()
            idx, kk = idx[below], kk[below]
        if idx.size > self.k:  # the block's own k smallest first: at most k spectra gathered
            part = np.argpartition(kk, self.k - 1)[: self.k]
            idx, kk = idx[part], kk[part]
        if idx.size == 0:
            return
        keys_all = np.concatenate([self.keys, kk])
        pos_all = np.concatenate([self.positions, idx + first_pos])
        pix_all = np.concatenate([self.pixels, _spectra(raw, idx, self.scale, self.nodata)])
        if keys_all.size > self.k:
            keep = np.argpartition(keys_all, self.k - 1)[: self.k]
            keys_all, pos_all, pix_all = keys_all[keep], pos_all[keep], pix_all[keep]
        self.keys, self.positions, self.pixels = keys_all, pos_all, pix_all

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """``(pixels (k', B) float32, positions (k',) int64)`` sorted by position; k' <= k
        (fewer than min(k, valid) only if sampled pixels had a no-data band outside the
        bands ``valid`` was computed from)."""
        order = np.argsort(self.positions, kind="stable")
        return _complete(self.pixels[order], self.positions[order])


def reduction_bands(n_bands: int, n_dims: int = N_DIMS, width: int = WIDTH) -> tuple[np.ndarray, int, int]:
    """Block band indices ``(d * w,)`` of the reduced space, and ``(d, w)`` actually used.

    ``d = min(n_dims, n_bands)`` groups of ``w`` adjacent bands (fewer if the bands run out),
    centred on ``d`` evenly spaced bands.
    """
    d = max(1, min(n_dims, n_bands))
    w = max(1, min(width, n_bands // d))
    centres = np.linspace(0, n_bands - 1, d)
    starts = np.clip(np.rint(centres - (w - 1) / 2).astype(np.int64), 0, n_bands - w)
    return (starts[:, None] + np.arange(w)).ravel(), d, w


class SkewerCandidates:
    """Candidate-pure pixels of a tile: the extremes of ``n_skewers`` random directions.

    Parameters: ``n_bands`` B of the blocks; ``max_candidates`` bound on the result (the
    number of skewers is ``ceil(max_candidates / 2)``: each contributes its maximum and its
    minimum, duplicates merged); ``scale`` the file's reflectance scale factor; ``seed`` for
    the skewers (isotropic Gaussian directions in the reduced space, float32).

    Cost per block of m valid pixels: the reduced coordinates (m x d x w additions) and one
    (n_skewers, d) @ (d, m) float32 product. Memory: 2 x n_skewers x B float32 spectra.
    """

    def __init__(self, n_bands: int, max_candidates: int, *, scale: float, nodata: float,
                 seed: int | Sequence[int], n_dims: int = N_DIMS, width: int = WIDTH):
        self.n_bands = int(n_bands)
        self.scale, self.nodata = float(scale), float(nodata)
        self.sel, self.d, self.w = reduction_bands(self.n_bands, n_dims, width)
        k = (int(max_candidates) + 1) // 2
        self.n_skewers = k
        rng = np.random.default_rng(seed)
        # Means of w bands in reflectance: sums of raw values times this factor.
        self._skewers = (rng.standard_normal((k, self.d)) / (self.w * self.scale)).astype(np.float32)
        self._best = np.concatenate([np.full(k, -np.inf, np.float32), np.full(k, np.inf, np.float32)])
        self._pos = np.full(2 * k, -1, dtype=np.int64)
        self._spec = np.zeros((2 * k, self.n_bands), dtype=np.float32)

    def _reduced(self, raw: np.ndarray, valid_idx: np.ndarray) -> np.ndarray:
        """Reduced coordinates (d, m) float32 (sums of w raw bands) of the valid pixels."""
        d, w = self.d, self.w
        if raw.flags.c_contiguous:  # pixel-major: gather the few bands of every pixel
            sub = np.take(raw.reshape(-1, raw.shape[-1]), self.sel, axis=1)  # (pixels, d * w)
            y = sub[:, 0::w].astype(np.float32)
            for j in range(1, w):  # strided adds: much faster than a sum over a short last axis
                y += sub[:, j::w]
            return np.ascontiguousarray(y[valid_idx].T)
        # band-major view: add the few band images straight into float32 (contiguous images)
        images = np.moveaxis(raw, -1, 0)
        y = np.empty((d,) + raw.shape[:2], dtype=np.float32)
        for j in range(d):
            group = self.sel[j * w : (j + 1) * w]
            np.copyto(y[j], images[group[0]])
            for b in group[1:]:
                y[j] += images[b]
        return y.reshape(d, -1)[:, valid_idx]

    def update(self, raw: np.ndarray, valid: np.ndarray, first_pos: int) -> None:
        """Offer a raw block (rows, cols, B) whose first pixel has tile position ``first_pos``.

        Ties keep the earlier pixel (strict comparison across blocks, first maximum within
        one), so the result is the same for any cut of the tile into row blocks.
        """
        k = self.n_skewers
        valid_idx = np.flatnonzero(valid.ravel())
        if k == 0 or valid_idx.size == 0:
            return
        Y = self._reduced(raw, valid_idx)
        best, pos = self._best, self._pos
        improved = np.zeros(2 * k, dtype=bool)
        for c0 in range(0, Y.shape[1], _CHUNK):
            Z = self._skewers @ Y[:, c0 : c0 + _CHUNK]  # (k, chunk)
            # Maxima and minima first (fast reductions); the argument only where a skewer's
            # record is beaten, which after the first chunks is rare.
            for side, ext, arg, beats in ((0, Z.max(axis=1), np.argmax, np.greater),
                                          (k, Z.min(axis=1), np.argmin, np.less)):
                up = np.flatnonzero(beats(ext, best[side : side + k]))
                if up.size:
                    best[side + up] = ext[up]
                    pos[side + up] = valid_idx[arg(Z[up], axis=1) + c0]  # block index for now
                    improved[side + up] = True
        if improved.any():
            p = pos[improved]
            self._spec[improved] = _spectra(raw, p, self.scale, self.nodata)
            pos[improved] = p + first_pos

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """``(pixels (c, B) float32, positions (c,) int64)``: distinct candidates by position,
        c <= 2 x n_skewers (0 for an all-no-data tile)."""
        ok = self._pos >= 0
        pos, first = np.unique(self._pos[ok], return_index=True)
        return _complete(self._spec[ok][first], pos)
