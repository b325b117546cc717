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
cache-sized pieces computed in float32 by the job's threads (more pixels per piece when few
bands are read). The sort is a radix sort of small integer keys; the kernels and incidence
terms are computed per block (:meth:`TileCorrection.terms`, only for pixels with a line, in
cache-sized pieces), not for the whole tile up front; a caller that owns its block can have it
corrected in place (``overwrite``), and values are clipped only when a piece leaves the type's
range.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from aopflow.brdf.kernels import kernels_deg
from aopflow.brdf.model import BrdfModel, read_model
from aopflow.brdf.topo import MIN_COS_I, cos_flat, cos_incidence
from aopflow.ndvi import normalized_difference
from aopflow.neon.reader import BlockCorrection, NeonTile

log = logging.getLogger(__name__)

#: Pixels per piece of a run: 512 x 400 bands x 4 B = 0.8 MB of float32 per temporary.
PIECE = 512
#: Pixels per piece of the per-pixel kernels (float32 temporaries of 64 KB).
KERNEL_PIECE = 16384


@dataclass
class PixelTerms:
    """Per-pixel terms ``(n,)``: ``line`` index into ``lines`` (-1 = not corrected), kernels
    ``kv``/``kg``, ``cf`` = cos ts cos s and ``ci`` = cos i (float32); ``lines``: per line
    (group index, C (B,) float32 of the read bands)."""

    line: np.ndarray
    kv: np.ndarray
    kg: np.ndarray
    cf: np.ndarray
    ci: np.ndarray
    lines: list[tuple[int, np.ndarray]]


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
        """Bin index j (-1: BRDF factor 1) and fraction w towards centre j+1."""
        centres = self._groups[gi][0]
        nb = centres.size
        if nb == 1:
            j = np.zeros(ndvi.shape, dtype=np.int64)
            w = np.zeros(ndvi.shape, dtype=np.float32)
        else:
            j = np.clip(np.searchsorted(centres, ndvi, side="right") - 1, 0, nb - 2)
            w = np.clip((ndvi - centres[j]) / (centres[j + 1] - centres[j]), 0.0, 1.0).astype(np.float32)
        j = np.where(np.isfinite(ndvi) & (ndvi >= self.model.ndvi_min), j, -1)
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

    def _factor(self, gi: int, j: int, c: np.ndarray | None, w, kv, kg, cf, ci) -> np.ndarray:
        """Factors (m, B) float32 of m pixels of one line and one bin (j = -1: topo only)."""
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
        f = v @ num
        f /= u @ den
        return f

    def correct(self, values: np.ndarray, terms: PixelTerms, ndvi: np.ndarray, keep: int | None = None, *,
                nodata: float | None = None, threads: int = 1, overwrite: bool = False) -> np.ndarray:
        """Corrected ``values (n, B)`` -> a new ``(n, keep)`` array of the same dtype.

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
        gidx = np.array([g for g, _ in terms.lines], dtype=np.int64)[line]
        j = np.empty(idx.size, dtype=np.int64)
        w = np.empty(idx.size, dtype=np.float32)
        nd = np.asarray(ndvi, dtype=np.float64)[idx]
        if len(self._groups) > 1:  # the groups of the lines present (no sort of the pixels)
            present = np.flatnonzero(np.bincount(line, minlength=len(terms.lines)))
            groups = np.unique([terms.lines[li][0] for li in present.tolist()])
        else:
            groups = (0,)
        for gi in groups:
            if len(groups) == 1:
                j[:], w[:] = self._bins(int(gi), nd)
            else:
                sel = gidx == gi
                j[sel], w[sel] = self._bins(int(gi), nd[sel])
        nbmax = max(len(g[0]) for g in self._groups) + 1
        key = line.astype(np.int64) * nbmax + (j + 1)
        nkeys = len(terms.lines) * nbmax
        # Small integer keys: a stable radix sort (int16) and counts instead of a comparison sort.
        order = np.argsort(key.astype(np.int16) if nkeys < 2**15 else key, kind="stable")
        counts = np.bincount(key, minlength=nkeys)
        ends = np.cumsum(counts)
        if integer:
            info = np.iinfo(values.dtype)
            lo, hi = info.min, info.max
        # Pieces of about PIECE x 400 values (cache-sized temporaries), more pixels when few bands.
        piece = min(max(PIECE, PIECE * 400 // max(keep, 1)), 8 * PIECE)
        tasks = []
        for k in np.flatnonzero(counts).tolist():
            b1 = int(ends[k])
            for a in range(b1 - int(counts[k]), b1, piece):
                tasks.append((k, a, min(a + piece, b1)))
        topo = self.model.topo
        fix = integer and nodata is not None and lo <= nodata <= hi

        def run(task):
            k, a, b = task
            li, jj = divmod(k, nbmax)
            jj -= 1
            q = order[a:b]
            p = idx[q]
            gi, c = terms.lines[li]
            if jj < 0 and not topo:  # below ndvi_min without topography: unchanged
                if out is not values:
                    out[p] = values[p, :keep]
                return
            f = self._factor(gi, jj, c if topo else None, w[q], terms.kv[p], terms.kg[p], terms.cf[p], terms.ci[p])
            x = np.take(values, p, axis=0)
            f *= (x[:, :keep] if keep < x.shape[1] else x).astype(np.float32)
            if integer:
                np.rint(f, out=f)
                mn, mx = f.min(), f.max()
                if mn < lo or mx > hi:
                    np.clip(f, lo, hi, out=f)
                if fix and mn <= nodata:
                    f[f == nodata] = nodata + (1 if nodata < hi else -1)
            out[p] = f

        if threads > 1 and len(tasks) > 1:
            with ThreadPoolExecutor(max_workers=threads) as pool:
                list(pool.map(run, tasks))
        else:
            for t in tasks:
                run(t)
        return out


def pixel_kernels(model: BrdfModel, sz, saz, vz, vaz, slope, aspect):
    """Per-pixel ``(K_vol, K_geo, cos ts cos s, cos i)`` float32 (NaN -> 0) and a mask of the
    pixels whose angles are not all finite, from angles in degrees."""
    f32 = np.float32
    sz, saz, vz, vaz, slope, aspect = (np.asarray(a, dtype=f32) for a in (sz, saz, vz, vaz, slope, aspect))
    kv, kg = kernels_deg(sz, saz, vz, vaz, geometric=model.geometric, br=model.br, hb=model.hb, dtype=f32)
    cf = cos_flat(sz, slope)
    ci = cos_incidence(sz, saz, slope, aspect)
    out = [np.asarray(a, dtype=f32) for a in (kv, kg, cf, ci)]  # fresh arrays: NaN -> 0 in place
    bad = ~np.isfinite(out[0])
    for a in out[1:]:
        bad |= ~np.isfinite(a)
    for a in out:
        np.nan_to_num(a, copy=False)
    return (*out, bad)


class TileCorrection(BlockCorrection):
    """The correction of one open tile, for :meth:`NeonTile.set_correction`: the tile's
    geometry is read once (a few 2-D layers), the kernels and incidence terms are computed per
    block (in the thread that corrects it, while in cache), and each block read is corrected in
    its digital numbers; red and NIR (for the NDVI bins) are read with every block."""

    def __init__(self, model: BrdfModel, tile: NeonTile, *, background: bool = False):
        self.model, self.meta, self.threads = model, tile.meta, tile.threads
        self.extra_bands = tuple(tile.meta.nearest_bands([model.red_nm, model.nir_nm]))
        self._correctors: dict[tuple[int, ...], tuple[Corrector, list]] = {}
        self._loaded = None
        if background:  # read while the caller starts reading the cube; the first block waits
            pool = ThreadPoolExecutor(max_workers=1)
            self._loaded = pool.submit(self._load, tile)
            pool.shutdown(wait=False)
        else:
            self._load(tile)

    def _load(self, tile: NeonTile) -> None:
        """The tile's geometry: line codes and angles (2-D), once."""
        geom = tile.read_geometry()
        values = sorted(geom.lines)
        self.line_keys = [(geom.lines[v].file, geom.lines[v].date) for v in values]
        code = np.full(geom.line.shape, -1, dtype=np.int32)
        for i, v in enumerate(values):
            code[geom.line == v] = i
        self._code = code
        self._angles = tuple(np.asarray(a, dtype=np.float32) for a in (
            geom.solar_zenith, geom.solar_azimuth, geom.view_zenith, geom.view_azimuth, geom.slope, geom.aspect))
        log.info("%s: BRDF/topographic correction of %d flight lines (%s), groups %s", tile.meta.path.name,
                 len(values), ", ".join(f for f, _ in self.line_keys), sorted(self.model.groups))

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
        """The :class:`PixelTerms` of the pixels of a window (row-major), from the tile's
        angles; pixels without a line are not corrected and get no kernels."""
        win = (rows, cols)
        code = np.array(self._code[win], dtype=np.int32).ravel()
        n = code.size
        kv, kg, cf, ci = (np.zeros(n, dtype=np.float32) for _ in range(4))
        has = np.flatnonzero(code >= 0)
        angles = [a[win].ravel() for a in self._angles]
        for a in range(0, has.size, KERNEL_PIECE):  # pieces whose temporaries stay in cache
            sel = has[a : a + KERNEL_PIECE]
            k = pixel_kernels(self.model, *(x[sel] for x in angles))
            code[sel[k[4]]] = -1
            for dst, src in zip((kv, kg, cf, ci), k[:4]):
                dst[sel] = src
        return PixelTerms(code, kv, kg, cf, ci, table)

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
        ndvi = ndvi_of(flat, red, nir, self.meta.nodata)
        out = corrector.correct(flat, terms, ndvi, keep, nodata=self.meta.nodata, threads=self.threads,
                                overwrite=overwrite or not np.may_share_memory(flat, raw))  # or our copy
        return out.reshape(nr, nc, keep)


def tile_correction(tile: NeonTile, coefficients: str | os.PathLike | None,
                    threads: int | None = None, *, background: bool = False) -> TileCorrection | None:
    """The correction of ``tile`` by the model in ``coefficients`` (None: no correction), for
    a caller that applies it to its blocks itself (``threads``: its own, default the tile's;
    ``background``: the geometry is read in a thread while the caller goes on, see
    :meth:`TileCorrection.wait`)."""
    if not coefficients:
        return None
    corr = TileCorrection(read_model(coefficients), tile, background=background)
    if threads is not None:
        corr.threads = int(threads)
    return corr


def attach(tile: NeonTile, coefficients: str | os.PathLike | None) -> TileCorrection | None:
    """Correct every later read of ``tile`` with the model in ``coefficients`` (None: none)."""
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
