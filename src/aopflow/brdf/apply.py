"""Apply a site's BRDF and topographic correction to pixels: a tile's blocks as they are read,
in digital numbers, or sampled reflectance spectra.

Per pixel and band the factor is

    F = T * BRDF(nadir view, ts_ref) / BRDF(pixel's sun and view)

with BRDF = f_iso + f_vol K_vol + f_geo K_geo, the kernel weights of the pixel's group
(flight day or site) interpolated linearly in NDVI between the group's bin centres (held
constant beyond the outer centres), ``ts_ref`` the group's reference solar zenith, and T the
SCS+C factor with the C of the pixel's flight line (:mod:`aopflow.brdf.topo`). The BRDF part
is 1 where NDVI < ``ndvi_min`` (water, built, bare: HyTools' apply mask); T is 1 where the
pixel faces away from the sun. No-data pixels are left as they are.

Digital numbers: the corrected value is ``rint(DN * F)`` in the cube's integer type, so the
correction adds at most 0.5 DN of rounding (5e-5 reflectance at NEON's scale 10000) to the
exact product; values are clipped to the type's range and never become the no-data value.

Speed: the pixels of a block are sorted by (line, NDVI bin), so within a run of pixels the
coefficients are fixed and the denominator is one small matrix product,
``[1, w, K_vol, w K_vol, K_geo, w K_geo] (m, 6) @ (6, B)``, with the SCS+C term (cos i + C)
(rank two) folded in as six more columns (the numerator likewise, 2 + 2); runs are cut into
cache-sized pieces computed in float32 by the job's threads, in per-thread buffers reused from
piece to piece (more pixels per piece when few bands are read). The sort is a radix sort of
small integer keys; NDVI bins are counted by vectorised comparisons. With at most
:data:`DIRECT_BANDS` bands each pixel's coefficients are looked up directly instead (no sort).
The per-pixel kernels and incidence terms (:mod:`aopflow.brdf.terms`) come from the tile's
terms file when the workflow gives one (the sampling job writes it), else from the geometry,
per block (only for pixels with a line, in cache-sized pieces); a caller that owns its block
can have it corrected in place (``overwrite``), and values are clipped only when a piece
leaves the type's range.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np

from aopflow.brdf.kernels import kernels_deg
from aopflow.brdf.model import BrdfModel, read_model
from aopflow.brdf.terms import (
    KernelShape,
    PixelTerms,
    geometry_arrays,
    pixel_kernels,
    read_tile_terms,
    window_terms,
)
from aopflow.brdf.topo import MIN_COS_I
from aopflow.ndvi import normalized_difference
from aopflow.neon.reader import BlockCorrection, NeonTile

log = logging.getLogger(__name__)

#: Pixels per piece of a run: 512 x 400 bands x 4 B = 0.8 MB of float32 per temporary.
PIECE = 512
#: At most this many bands read: each pixel's coefficients are looked up directly (no sort of
#: the pixels by line and bin; ``ndvi_tile``'s and the index jobs' few bands).
DIRECT_BANDS = 8
#: Values (pixels x bands) per piece of the direct path.
DIRECT_PIECE = 1 << 16


class Corrector:
    """A :class:`BrdfModel` for pixels whose bands have ``wavelengths`` (nm; each band uses
    the fitted band nearest in wavelength)."""

    def __init__(self, model: BrdfModel, wavelengths: Sequence[float]):
        self.model = model
        wl = np.asarray(wavelengths, dtype=np.float64)
        self.bmap = np.abs(model.wavelengths[None, :] - wl[:, None]).argmin(axis=1)
        self.group_names = list(model.groups)
        self._cache: dict[tuple[int, int, int], tuple] = {}
        self._groups = []
        for name in self.group_names:
            g = model.groups[name]
            kv0, kg0 = kernels_deg(g.solar_zenith_ref, 0.0, 0.0, 0.0, geometric=model.geometric, br=model.br, hb=model.hb)
            iso, vol, geo = (np.asarray(x)[:, self.bmap] for x in (g.iso, g.vol, g.geo))
            nadir = iso + vol * kv0 + geo * kg0

            def step(x):
                d = np.zeros_like(x)
                d[:-1] = x[1:] - x[:-1]
                return d

            # Per bin j: rows [x_j, x_{j+1} - x_j] of each weight, so that a pixel at fraction w
            # of the way to the next centre has x_j + w (x_{j+1} - x_j).
            den = np.stack([iso, step(iso), vol, step(vol), geo, step(geo)], axis=1).astype(np.float32)
            num = np.stack([nadir, step(nadir)], axis=1).astype(np.float32)
            self._groups.append((np.asarray(g.centres, dtype=np.float64), den, num))
        # Bin rows of every group for the direct path: row gi * nbmax + j + 1 (j = -1: BRDF 1).
        self.nbmax = max(len(g[0]) for g in self._groups) + 1
        nbands = self.bmap.size
        den_rows = np.zeros((len(self._groups) * self.nbmax, 6, nbands), dtype=np.float32)
        num_rows = np.zeros((len(self._groups) * self.nbmax, 2, nbands), dtype=np.float32)
        for gi, (centres, den, num) in enumerate(self._groups):
            r = gi * self.nbmax
            den_rows[r, 0] = num_rows[r, 0] = 1.0
            den_rows[r + 1 : r + 1 + len(centres)] = den
            num_rows[r + 1 : r + 1 + len(centres)] = num
        # Per band: (6, rows) and (2, rows), contiguous, for 1-D lookups of each pixel's row.
        self._den_cols = np.ascontiguousarray(den_rows.transpose(2, 1, 0))
        self._num_cols = np.ascontiguousarray(num_rows.transpose(2, 1, 0))

    # -- per-pixel terms ------------------------------------------------------------------------
    def terms(self, sz, saz, vz, vaz, slope, aspect, line_code, line_keys: Sequence[tuple[str, str]],
              tile: str = "") -> PixelTerms:
        """Terms of pixels given their angles (degrees) and ``line_code`` (n,) indexing
        ``line_keys`` = [(line file, date), ...] (-1 or NaN angles: not corrected)."""
        kv, kg, cf, ci, bad = pixel_kernels(self.model, sz, saz, vz, vaz, slope, aspect)
        line = np.asarray(line_code, dtype=np.int32).copy()
        line[bad] = -1
        return PixelTerms(line, kv, kg, cf, ci, self.line_table(line_keys, tile))

    def line_table(self, line_keys: Sequence[tuple[str, str]], tile: str = "") -> list[tuple[int, np.ndarray]]:
        """Per line (file, date): (group index, C of the bands (B,) float32)."""
        lines = []
        for file, date in line_keys:
            group, c = self.model.line_params(file, date, tile)
            lines.append((self.group_names.index(group), np.asarray(c, dtype=np.float32)[self.bmap]))
        return lines

    # -- factors --------------------------------------------------------------------------------
    def _bins(self, gi: int, ndvi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bin index j (-1: BRDF factor 1) and fraction w towards centre j+1 of float32 ``ndvi``."""
        centres = self._groups[gi][0].astype(np.float32)
        nb = centres.size
        if nb == 1:
            j = np.zeros(ndvi.shape, dtype=np.intp)
            w = np.zeros(ndvi.shape, dtype=np.float32)
        else:
            if nb <= 100:
                # j = the inner centres at or below the value (searchsorted - 1, clipped to
                # [0, nb - 2]), counted by vectorised comparisons: 10x a binary search per pixel.
                j8 = np.zeros(ndvi.shape, dtype=np.int8)
                ge = np.empty(ndvi.shape, dtype=bool)
                for c in centres[1:-1]:
                    np.greater_equal(ndvi, c, out=ge)
                    j8 += ge
                j = j8.astype(np.intp)
            else:
                j = np.searchsorted(centres, ndvi, side="right")
                j -= 1
                np.clip(j, 0, nb - 2, out=j)
            w = ndvi - centres.take(j)
            w /= (centres[1:] - centres[:-1]).take(j)
            np.clip(w, 0.0, 1.0, out=w)
        off = ~(ndvi >= self.model.ndvi_min)  # NaN compares False
        j[off] = -1
        w[off] = 0.0
        return j, w

    def _stacked(self, gi: int, j: int, c: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """(denominator (12 or 6, B), numerator (4 or 2, B)) coefficients of bin ``j`` of
        group ``gi`` with a line's C ``c``: the SCS+C terms (cos ts cos s + C) and (cos i + C)
        are rank two, so multiplying them in is a matrix product with twice the rows, cached
        per (group, bin, line)."""
        key = (gi, j, id(c))
        hit = self._cache.get(key)
        if hit is None or hit[0] is not c:  # the cache holds c, so its id is not reused
            if j < 0:
                den = num = np.ones((1, self.bmap.size), dtype=np.float32)
            else:
                _, den, num = self._groups[gi]
                den, num = den[j], num[j]
            if c is not None:
                den = np.concatenate([den, den * c]).astype(np.float32)
                num = np.concatenate([num, num * c]).astype(np.float32)
            hit = self._cache[key] = (c, den, num)
        return hit[1], hit[2]

    def _factor(self, gi: int, j: int, c: np.ndarray | None, w, kv, kg, cf, ci, out: np.ndarray | None = None,
                scratch: np.ndarray | None = None) -> np.ndarray:
        """Factors (m, B) float32 of m pixels of one line and one bin (j = -1: topo only),
        into ``out`` (m, B) if given (``scratch``, the same shape, for the denominator)."""
        den, num = self._stacked(gi, j, c)
        if j < 0:
            u = v = np.ones((w.size, 1), dtype=np.float32)
        else:
            one = np.ones_like(w)
            u = np.stack([one, w, kv, kv * w, kg, kg * w], axis=1)
            v = np.stack([one, w], axis=1)
        if c is not None:
            # A pixel facing away from the sun is not corrected: its cos i taken as cos ts cos s.
            ci = np.where(ci > MIN_COS_I, ci, cf)
            u = np.concatenate([u * ci[:, None], u], axis=1)
            v = np.concatenate([v * cf[:, None], v], axis=1)
        if out is None:
            f = v @ num
            f /= u @ den
            return f
        np.matmul(v, num, out=out)
        np.matmul(u, den, out=scratch)
        np.divide(out, scratch, out=out)
        return out

    def correct(self, values: np.ndarray, terms: PixelTerms, ndvi: np.ndarray | tuple[int, int],
                keep: int | None = None, *, nodata: float | None = None, threads: int = 1,
                overwrite: bool = False) -> np.ndarray:
        """Corrected ``values (n, B)`` -> a new ``(n, keep)`` array of the same dtype.

        ``ndvi``: the pixels' NDVI (n,) (:func:`ndvi_of`), or the (red, NIR) columns of
        ``values`` to compute it from, for the pixels corrected only.

        Integers are rounded to nearest (at most 0.5 DN from the exact product) and clipped to
        the dtype; floats are multiplied. Pixels whose first band is ``nodata`` (or NaN), or
        with ``terms.line`` -1, are copied unchanged. ``overwrite`` (with ``keep`` = B and
        C-contiguous ``values``): the result is written into ``values`` itself, and returned.
        """
        keep = values.shape[1] if keep is None else keep
        integer = np.issubdtype(values.dtype, np.integer)
        ok = terms.line >= 0
        if nodata is not None:
            ok &= values[:, 0] != nodata
        if not integer:
            ok &= np.isfinite(values[:, 0])
        idx = np.flatnonzero(ok)
        if idx.size == 0 or not (self.model.topo or self.model.ndvi_min <= 1.0):
            return values if overwrite and keep == values.shape[1] else np.array(values[:, :keep], copy=True, order="C")
        if overwrite and keep == values.shape[1] and values.flags.c_contiguous:
            out = values  # each pixel is read before it is written, by one task
        else:
            out = np.empty((values.shape[0], keep), dtype=values.dtype)
            if idx.size < ok.size:  # pixels left as they are (no data, no line)
                out[~ok] = values[~ok, :keep]
        line = terms.line[idx]
        gtab = np.array([g for g, _ in terms.lines], dtype=np.intp)
        if isinstance(ndvi, tuple):  # (red, nir) columns: the NDVI of the pixels corrected only
            r, n = values[idx, ndvi[0]], values[idx, ndvi[1]]
            nd = normalized_difference(n, r)
            if nodata is not None and nodata >= 0:  # a negative no-data value is no NDVI already
                nd[(r == nodata) | (n == nodata)] = np.nan
        else:
            nd = np.asarray(ndvi, dtype=np.float32)[idx]
        if len(self._groups) > 1:  # the groups of the lines present (no sort of the pixels)
            present = np.flatnonzero(np.bincount(line, minlength=len(terms.lines)))
            groups = np.unique(gtab[present])
        else:
            groups = (0,)
        if len(groups) == 1:
            gidx = None
            j, w = self._bins(int(groups[0]), nd)
        else:
            gidx = gtab[line]
            j = np.empty(idx.size, dtype=np.intp)
            w = np.empty(idx.size, dtype=np.float32)
            for gi in groups:
                sel = gidx == gi
                j[sel], w[sel] = self._bins(int(gi), nd[sel])
        if integer:
            info = np.iinfo(values.dtype)
            lo, hi = info.min, info.max
        else:
            lo = hi = None
        fix = integer and nodata is not None and lo <= nodata <= hi
        finish = _Finish(values, out, keep, lo, hi, nodata if fix else None)
        if keep <= DIRECT_BANDS:
            tasks = self._direct_tasks(terms, idx, line, int(groups[0]) if gidx is None else gidx, j, w, finish)
        else:
            tasks = self._sorted_tasks(terms, idx, line, j, w, finish)
        if threads > 1 and len(tasks) > 1:
            with ThreadPoolExecutor(max_workers=threads) as pool:
                list(pool.map(lambda t: t(), tasks))
        else:
            for t in tasks:
                t()
        return out

    def _sorted_tasks(self, terms: PixelTerms, idx, line, j, w, finish: _Finish) -> list:
        """Tasks correcting the pixels ``idx`` in runs of one (line, bin) each, in pieces: per
        piece one matrix product each for the factors' numerator and denominator."""
        nbmax = self.nbmax
        key = line.astype(np.intp) * nbmax + (j + 1)
        nkeys = len(terms.lines) * nbmax
        # Small integer keys: a stable radix sort (int16) and counts instead of a comparison sort.
        order = np.argsort(key.astype(np.int16) if nkeys < 2**15 else key, kind="stable")
        counts = np.bincount(key, minlength=nkeys)
        ends = np.cumsum(counts)
        keep = finish.keep
        # Pieces of about PIECE x 400 values (cache-sized temporaries), more pixels when few bands.
        piece = min(max(PIECE, PIECE * 400 // max(keep, 1)), 8 * PIECE)
        topo = self.model.topo
        local = threading.local()  # per thread: buffers of one piece, reused (no fresh pages per piece)

        def run(k, a, b):
            li, jj = divmod(k, nbmax)
            jj -= 1
            q = order[a:b]
            p = idx[q]
            gi, c = terms.lines[li]
            if jj < 0 and not topo:  # below ndvi_min without topography: unchanged
                finish.unchanged(p)
                return
            if not hasattr(local, "f"):
                local.f, local.d = (np.empty((piece, keep), dtype=np.float32) for _ in range(2))
                local.x = np.empty((piece, finish.values.shape[1]), dtype=finish.values.dtype)
            m = b - a
            f = self._factor(gi, jj, c if topo else None, w[q], terms.kv[p], terms.kg[p], terms.cf[p], terms.ci[p],
                             local.f[:m], local.d[:m])
            finish(p, f, local.x[:m], local.d[:m])

        tasks = []
        for k in np.flatnonzero(counts).tolist():
            b1 = int(ends[k])
            for a in range(b1 - int(counts[k]), b1, piece):
                tasks.append(partial(run, k, a, min(a + piece, b1)))
        return tasks

    def _direct_tasks(self, terms: PixelTerms, idx, line, gidx, j, w, finish: _Finish) -> list:
        """Tasks correcting the pixels ``idx`` in their order, in pieces, each pixel's
        coefficients looked up by its (group, bin) (few bands: no sort, no runs)."""
        keep = finish.keep
        row = gidx * self.nbmax + (j + 1)  # gidx: per pixel, or the one group
        topo = self.model.topo
        ctab = np.stack([c for _, c in terms.lines], axis=1) if topo and terms.lines else None  # (B, lines)
        piece = max(256, DIRECT_PIECE // max(keep, 1))

        def run(a, b):
            p = idx[a:b]
            r = row[a:b]
            ww, kv, kg = w[a:b], terms.kv[p], terms.kg[p]
            if topo:
                # SCS+C (cos ts cos s + C) / (cos i + C); facing away from the sun: cos i = cos ts cos s.
                lc = line[a:b]
                cf, ci = terms.cf[p], terms.ci[p]
                ci = np.where(ci > MIN_COS_I, ci, cf)
            f = np.empty((keep, b - a), dtype=np.float32)  # band-major: 1-D lookups and products
            t = np.empty(b - a, dtype=np.float32)
            for k in range(keep):
                den, num = self._den_cols[k], self._num_cols[k]  # (6, rows), (2, rows)
                d = den[1].take(r)
                d *= ww
                d += den[0].take(r)
                np.multiply(den[3].take(r), ww, out=t)
                t += den[2].take(r)
                t *= kv
                d += t
                np.multiply(den[5].take(r), ww, out=t)
                t += den[4].take(r)
                t *= kg
                d += t
                fk = f[k]
                np.multiply(num[1].take(r), ww, out=fk)
                fk += num[0].take(r)
                if topo:
                    c = ctab[k].take(lc)
                    np.add(c, ci, out=t)
                    d *= t
                    c += cf
                    fk *= c
                fk /= d
            finish(p, f.T)

        return [partial(run, a, min(a + piece, idx.size)) for a in range(0, idx.size, piece)]


class _Finish:
    """The last step of a piece: the corrected values ``values[p, :keep] * f`` written to
    ``out[p]``, rounded and clipped to the type (integers, never the no-data value ``nodata``)."""

    def __init__(self, values: np.ndarray, out: np.ndarray, keep: int, lo, hi, nodata):
        self.values, self.out, self.keep, self.lo, self.hi, self.nodata = values, out, keep, lo, hi, nodata

    def unchanged(self, p: np.ndarray) -> None:
        if self.out is not self.values:
            self.out[p] = self.values[p, : self.keep]

    def __call__(self, p: np.ndarray, f: np.ndarray, x: np.ndarray | None = None, xf: np.ndarray | None = None) -> None:
        """``f`` (m, keep) float32 factors of pixels ``p``; overwritten. ``x`` (m, B) of the
        values' type and ``xf`` (m, keep) float32: scratch buffers, if the caller has them."""
        x = np.take(self.values, p, axis=0, out=x)
        x = x[:, : self.keep] if self.keep < x.shape[1] else x
        if xf is None:
            f *= x.astype(np.float32)
        else:
            np.copyto(xf, x, casting="unsafe")  # float64 values: as astype does
            f *= xf
        if self.lo is not None:
            lo, hi, nodata = self.lo, self.hi, self.nodata
            np.rint(f, out=f)
            mn, mx = f.min(), f.max()
            if mn < lo or mx > hi:
                np.clip(f, lo, hi, out=f)
            if nodata is not None and mn <= nodata:
                f[f == nodata] = nodata + (1 if nodata < hi else -1)
        self.out[p] = f


class TileCorrection(BlockCorrection):
    """The correction of one open tile, for :meth:`NeonTile.set_correction`: the tile's
    geometry is read once (a few 2-D layers), the kernels and incidence terms are computed per
    block (in the thread that corrects it, while in cache), and each block read is corrected in
    its digital numbers; red and NIR (for the NDVI bins) are read with every block."""

    def __init__(self, model: BrdfModel, tile: NeonTile, *, background: bool = False,
                 terms_path: str | os.PathLike | None = None):
        self.model, self.meta, self.threads = model, tile.meta, tile.threads
        self.extra_bands = tuple(tile.meta.nearest_bands([model.red_nm, model.nir_nm]))
        self._correctors: dict[tuple[int, ...], tuple[Corrector, list]] = {}
        self._loaded = None
        self._stored = None  # (code (rows, cols) int32, terms (4, rows, cols) float32) of a terms file
        if background:  # read while the caller starts reading the cube; the first block waits
            pool = ThreadPoolExecutor(max_workers=1)
            self._loaded = pool.submit(self._load, tile, terms_path)
            pool.shutdown(wait=False)
        else:
            self._load(tile, terms_path)

    def _load(self, tile: NeonTile, terms_path: str | os.PathLike | None = None) -> None:
        """The tile's per-pixel terms from its terms file (:func:`write_tile_terms`), or else
        its geometry (line codes and angles, 2-D; the terms are then computed per block)."""
        stored = read_tile_terms(terms_path, tile, KernelShape.of(self.model)) if terms_path else None
        if stored is not None:
            self.line_keys, code, terms = stored
            self._stored = (code, terms)
        else:
            self.line_keys, self._code, self._angles = geometry_arrays(tile.read_geometry())
        log.info("%s: BRDF/topographic correction of %d flight lines (%s), groups %s%s", tile.meta.path.name,
                 len(self.line_keys), ", ".join(f for f, _ in self.line_keys), sorted(self.model.groups),
                 f", per-pixel terms from {Path(terms_path).name}" if stored is not None else "")

    def wait(self) -> TileCorrection:
        """Wait for the tile's geometry (read in the background); raises what reading raised."""
        if self._loaded is not None:
            self._loaded.result()
        return self

    def bands_to_read(self, bands) -> list[int]:
        """``bands`` and, after them, the extra bands the correction needs that are not among them."""
        bands = [int(b) for b in bands]
        return bands + [b for b in self.extra_bands if b not in bands]

    def _corrector(self, bands: tuple[int, ...]) -> tuple[Corrector, list]:
        self.wait()
        if bands not in self._correctors:
            c = Corrector(self.model, self.meta.wavelengths[list(bands)])
            self._correctors[bands] = (c, c.line_table(self.line_keys, self.meta.path.name))
        return self._correctors[bands]

    def terms(self, rows: slice, cols: slice, table: list) -> PixelTerms:
        """The :class:`PixelTerms` of the pixels of a window (row-major): views of the terms
        file's arrays, or computed from the tile's angles; pixels without a line are not
        corrected and get no kernels."""
        win = (rows, cols)
        if self._stored is not None:
            code, terms = self._stored
            return PixelTerms(code[win].ravel(), *(t[win].ravel() for t in terms), table)
        return PixelTerms(*window_terms(KernelShape.of(self.model), self._code, self._angles, win), table)

    def __call__(self, rows: slice, cols: slice, bands: Sequence[int], raw: np.ndarray, keep: int, *,
                 overwrite: bool = False) -> np.ndarray:
        """Corrected ``raw (rows, cols, bands)`` -> ``(rows, cols, keep)``, a new array, or with
        ``overwrite`` (and ``keep`` = all bands, ``raw`` C-contiguous) ``raw`` itself."""
        bands = [int(b) for b in bands]
        corrector, table = self._corrector(tuple(bands[:keep]))
        nr, nc, nb = raw.shape
        terms = self.terms(rows, cols, table)
        flat = np.ascontiguousarray(raw).reshape(nr * nc, nb)
        red, nir = (bands.index(b) for b in self.extra_bands)
        out = corrector.correct(flat, terms, (red, nir), keep, nodata=self.meta.nodata, threads=self.threads,
                                overwrite=overwrite or not np.may_share_memory(flat, raw))  # or our copy
        return out.reshape(nr, nc, keep)


def tile_correction(tile: NeonTile, coefficients, threads: int | None = None, *,
                    background: bool = False) -> TileCorrection | None:
    """The correction of ``tile`` by the model in ``coefficients`` (None or empty: no
    correction), for a caller that applies it to its blocks itself (``threads``: its own,
    default the tile's; ``background``: the geometry is read in a thread while the caller
    goes on, see :meth:`TileCorrection.wait`). ``coefficients``: the model's ``.json``, or
    a list of it and the tile's terms file (``.npz``, :func:`write_tile_terms`), as the
    workflow's rules give them."""
    model_path, terms_path = correction_inputs(coefficients)
    if model_path is None:
        return None
    corr = TileCorrection(read_model(model_path), tile, background=background, terms_path=terms_path)
    if threads is not None:
        corr.threads = int(threads)
    return corr


def correction_inputs(paths) -> tuple[Path | None, Path | None]:
    """(coefficients ``.json``, tile terms ``.npz`` or None) from one path or a list of them."""
    if not paths:
        return None, None
    items = [Path(p) for p in ([paths] if isinstance(paths, (str, os.PathLike)) else list(paths))]
    terms = [p for p in items if p.suffix == ".npz"]
    model = [p for p in items if p.suffix != ".npz"]
    if len(model) != 1 or len(terms) > 1:
        raise ValueError(f"expected the BRDF coefficients and at most one tile terms file; got {[str(p) for p in items]}")
    return model[0], (terms[0] if terms else None)


def attach(tile: NeonTile, coefficients) -> TileCorrection | None:
    """Correct every later read of ``tile`` with the model in ``coefficients`` (None: none;
    or the model and the tile's terms file, see :func:`tile_correction`)."""
    corr = tile_correction(tile, coefficients)
    if corr is not None:
        tile.set_correction(corr)
    return corr


def correct_spectra(model: BrdfModel, pixels: np.ndarray, wavelengths: np.ndarray, geometry: np.ndarray,
                    line: np.ndarray, line_keys: Sequence[tuple[str, str]]) -> np.ndarray:
    """Corrected reflectance ``(n, B)`` of sampled spectra ``pixels`` (bands at ``wavelengths``)
    with their ``geometry (n, 6)`` (solar zenith/azimuth, view zenith/azimuth, slope, aspect)
    and ``line`` (n,) indexing ``line_keys`` [(file, date)]."""
    if pixels.shape[0] == 0:
        return pixels
    wavelengths = np.asarray(wavelengths, dtype=np.float64)
    corr = Corrector(model, wavelengths)
    terms = corr.terms(*(geometry[:, k] for k in range(6)), line, line_keys)
    red, nir = (int(np.abs(wavelengths - w).argmin()) for w in (model.red_nm, model.nir_nm))
    return corr.correct(pixels, terms, ndvi_of(pixels, red, nir))


def ndvi_of(values: np.ndarray, red: int, nir: int, nodata: float | None = None) -> np.ndarray:
    """NDVI (n,) float32 of columns ``red``/``nir`` of ``values (n, B)`` (DNs or reflectance:
    the scale cancels), by the project's one NDVI rule (:func:`aopflow.ndvi.normalized_difference`);
    NaN where no data."""
    v = normalized_difference(values[:, nir], values[:, red])
    if nodata is not None:
        v[(values[:, red] == nodata) | (values[:, nir] == nodata)] = np.nan
    return v
