"""A tile's per-pixel terms of the BRDF and topographic correction: each pixel's flight line,
Ross-thick and Li kernels, cos ts cos s and cos i, computed from its geometry
(:meth:`aopflow.neon.reader.NeonTile.read_geometry`) and the kernel form, not from the fitted
coefficients; and the tile's terms file, which the sampling job writes once from its geometry
read and every job that corrects the tile loads (``tiles/{tile}/brdf_terms.npz``,
``docs/brdf.md``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aopflow.brdf.kernels import NEON_BR, NEON_HB, kernels_deg
from aopflow.brdf.topo import cos_flat, cos_incidence
from aopflow.errors import InputDataError
from aopflow.io import atomic_path
from aopflow.neon.reader import NeonTile

log = logging.getLogger(__name__)

#: Format of the tile terms files (:func:`write_tile_terms`).
TERMS_FORMAT = 1
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


@dataclass(frozen=True)
class KernelShape:
    """What the per-pixel kernels depend on besides the angles: the Li form and its crown
    shape (a :class:`BrdfModel` has the same three attributes)."""

    geometric: str = "li_sparse"
    br: float = NEON_BR
    hb: float = NEON_HB

    @classmethod
    def of(cls, model) -> KernelShape:
        return cls(str(model.geometric), float(model.br), float(model.hb))


def pixel_kernels(model, sz, saz, vz, vaz, slope, aspect):
    """Per-pixel ``(K_vol, K_geo, cos ts cos s, cos i)`` float32 (NaN -> 0) and a mask of the
    pixels whose angles are not all finite, from angles in degrees; ``model``: the kernels'
    shape (``geometric``, ``br``, ``hb``: a :class:`KernelShape` or a model)."""
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


def geometry_arrays(geom) -> tuple[list[tuple[str, str]], np.ndarray, tuple[np.ndarray, ...]]:
    """From a :class:`~aopflow.neon.geometry.TileGeometry`: the line keys [(file, date)] in
    order of their ``Data_Selection_Index`` values, each pixel's code into them (int32, -1 no
    line) and its six angles (float32, degrees: solar zenith/azimuth, view zenith/azimuth,
    slope, aspect)."""
    values = sorted(geom.lines)
    keys = [(geom.lines[v].file, geom.lines[v].date) for v in values]
    code = np.full(geom.line.shape, -1, dtype=np.int32)
    for i, v in enumerate(values):
        code[geom.line == v] = i
    angles = tuple(np.asarray(a, dtype=np.float32) for a in (
        geom.solar_zenith, geom.solar_azimuth, geom.view_zenith, geom.view_azimuth, geom.slope, geom.aspect))
    return keys, code, angles


def window_terms(shape: KernelShape, code: np.ndarray, angles: Sequence[np.ndarray], win) -> tuple[np.ndarray, ...]:
    """``(line code, K_vol, K_geo, cos ts cos s, cos i)`` (n,) of the pixels of window ``win``
    (row-major) of a tile's 2-D ``code`` and ``angles``: kernels only for pixels with a line,
    in cache-sized pieces; a pixel whose angles are not all finite gets code -1."""
    code = np.array(code[win], dtype=np.int32).ravel()
    n = code.size
    kv, kg, cf, ci = (np.zeros(n, dtype=np.float32) for _ in range(4))
    has = np.flatnonzero(code >= 0)
    flat = [a[win].ravel() for a in angles]
    for a in range(0, has.size, KERNEL_PIECE):  # pieces whose temporaries stay in cache
        sel = has[a : a + KERNEL_PIECE]
        k = pixel_kernels(shape, *(x[sel] for x in flat))
        code[sel[k[4]]] = -1
        for dst, src in zip((kv, kg, cf, ci), k[:4]):
            dst[sel] = src
    return code, kv, kg, cf, ci


def write_tile_terms(tile: NeonTile, path: str | os.PathLike, shape: KernelShape = KernelShape(),
                     geom=None) -> Path:
    """Write a tile's per-pixel correction terms (``.npz``): ``code`` (rows, cols) int16 (the
    pixel's line, -1 none), ``terms`` (4, rows, cols) float32 (K_vol, K_geo, cos ts cos s,
    cos i), the lines' ``line_files``/``line_dates``, the kernel ``shape`` and the tile's file
    name. They depend on the tile's geometry and ``shape`` only, not on the fitted
    coefficients: the sampling job, which reads the geometry for the fit's sample, writes
    them, and every job that corrects the tile loads them instead of reading the geometry
    and computing the kernels again. ``geom``: the tile's geometry, if already read."""
    keys, code, angles = geometry_arrays(geom if geom is not None else tile.read_geometry())
    c, kv, kg, cf, ci = window_terms(shape, code, angles, (slice(None), slice(None)))
    rows, cols = code.shape
    if len(keys) >= 2**15:
        raise InputDataError(f"{tile.meta.path.name}: {len(keys)} flight lines; at most 32767 are supported.")
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, format=TERMS_FORMAT, code=c.astype(np.int16).reshape(rows, cols),
                     terms=np.stack([kv, kg, cf, ci]).reshape(4, rows, cols),
                     line_files=np.array([f for f, _ in keys], dtype=str),
                     line_dates=np.array([d for _, d in keys], dtype=str),
                     geometric=shape.geometric, br=shape.br, hb=shape.hb, tile=tile.meta.path.name)
    return Path(path)


def read_tile_terms(path: str | os.PathLike, tile: NeonTile, shape: KernelShape):
    """``(line keys, code (rows, cols) int32, terms (4, rows, cols) float32)`` from a file of
    :func:`write_tile_terms` for ``tile`` with kernels of ``shape``; None (with a warning)
    when the file was written for another tile, grid or kernel shape, so that the caller
    computes the terms from the geometry instead."""
    path = Path(path)
    try:
        with np.load(path) as z:
            fmt, name = int(z["format"]), str(z["tile"])
            got = KernelShape(str(z["geometric"]), float(z["br"]), float(z["hb"]))
            code, terms = z["code"], z["terms"]
            keys = list(zip(z["line_files"].tolist(), z["line_dates"].tolist()))
    except (OSError, KeyError, ValueError) as e:
        raise InputDataError(f"{path}: not a readable BRDF terms file ({e}); delete it and rerun the "
                             "workflow (the sampling job writes it).") from None
    meta = tile.meta
    why = None
    if fmt != TERMS_FORMAT:
        why = f"format {fmt}, expected {TERMS_FORMAT}"
    elif name != meta.path.name:
        why = f"written for {name}"
    elif code.shape != (meta.rows, meta.cols) or terms.shape != (4, meta.rows, meta.cols):
        why = f"grid {code.shape}, the tile's is {(meta.rows, meta.cols)}"
    elif got != shape:
        why = f"kernels {got}, the coefficients' are {shape}"
    if why is not None:
        log.warning("%s: %s; the terms are computed from %s's geometry instead", path, why, meta.path.name)
        return None
    return keys, code.astype(np.int32), terms
