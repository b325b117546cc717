"""Crowns on a tile's pixel grid, and the training pixels read from them.

A crown is the disc of radius ``crown_radius_m`` around its stem (pixel centres inside it),
plus the pixel holding the stem, so a crown narrower than a pixel still gives one pixel (the
NEON tutorial's one pixel per stem). A pixel inside two crowns goes to the taller tree
(``overlap: taller``: the taller crown is the one seen from above; a shaded stem under it would
label it wrongly) or to neither (``overlap: drop``).
"""

from __future__ import annotations

import logging
import math

import numpy as np
from affine import Affine

from aopflow.clean import to_reflectance, valid_mask

log = logging.getLogger(__name__)

#: What happens to a pixel inside two crowns.
OVERLAP = ("taller", "drop")


def crown_labels(x: np.ndarray, y: np.ndarray, radius: np.ndarray, height: np.ndarray,
                 transform: Affine, shape: tuple[int, int], overlap: str = "taller") -> np.ndarray:
    """Index of the crown covering each pixel of a grid, ``(rows, cols)`` int32, -1 = none.

    ``x``, ``y``: stem map coordinates (m), ``radius``: crown radius (m), ``height``: tree height
    (m), all ``(n,)``; crown i is index i. ``transform`` maps (col, row) to the map coordinates of
    a pixel's upper-left corner (north-up grids only).
    """
    if overlap not in OVERLAP:
        raise ValueError(f"Unknown method {overlap!r}; must be one of {sorted(OVERLAP)}")
    rows, cols = shape
    res_x, res_y = transform.a, -transform.e
    x0, y0 = transform.c, transform.f
    labels = np.full(shape, -1, dtype=np.int32)
    count = np.zeros(shape, dtype=np.int16) if overlap == "drop" else None
    # Shortest first, so that a taller crown overwrites a shorter one.
    order = np.argsort(np.nan_to_num(np.asarray(height, dtype=float), nan=-np.inf), kind="stable")
    for i in order:
        cx = (x[i] - x0) / res_x  # continuous pixel coordinates of the stem
        cy = (y0 - y[i]) / res_y
        r = max(float(radius[i]), 0.0)
        c0 = max(0, int(math.floor(cx - r / res_x)))
        c1 = min(cols, int(math.floor(cx + r / res_x)) + 1)
        r0 = max(0, int(math.floor(cy - r / res_y)))
        r1 = min(rows, int(math.floor(cy + r / res_y)) + 1)
        inside = np.zeros((max(r1 - r0, 0), max(c1 - c0, 0)), dtype=bool)
        if inside.size:
            px = x0 + (np.arange(c0, c1) + 0.5) * res_x
            py = y0 - (np.arange(r0, r1) + 0.5) * res_y
            inside = (px[None, :] - x[i]) ** 2 + (py[:, None] - y[i]) ** 2 <= r * r
        sr, sc = int(math.floor(cy)), int(math.floor(cx))  # the stem's own pixel
        if r0 <= sr < r1 and c0 <= sc < c1:
            inside[sr - r0, sc - c0] = True
        elif 0 <= sr < rows and 0 <= sc < cols:  # radius 0: the stem pixel alone
            labels[sr, sc] = i
            if count is not None:
                count[sr, sc] += 1
            continue
        if not inside.any():
            continue
        labels[r0:r1, c0:c1][inside] = i
        if count is not None:
            count[r0:r1, c0:c1][inside] += 1
    if count is not None:
        labels[count > 1] = -1
    return labels


def crown_pixels(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(rows, cols, crown index)`` of the labelled pixels, each ``(n,)``, in row-major order."""
    r, c = np.nonzero(labels >= 0)
    return r, c, labels[r, c]


def extract_pixels(blocks, labels: np.ndarray, nodata: float, scale: float):
    """Cleaned reflectance of the labelled pixels from a tile's row blocks, read once.

    ``blocks`` yields ``(row_slice, raw (rows, cols, bands))`` (:meth:`NeonTile.iter_blocks` of
    the kept bands); ``labels`` is :func:`crown_labels`'s grid. Returns ``(X float32 (n, bands),
    rows, cols, crown index)``; no-data pixels (any kept band equal to ``nodata``) are left out.
    """
    xs, rs, cs, ks = [], [], [], []
    for sl, raw in blocks:
        lab = labels[sl]
        r, c = np.nonzero(lab >= 0)
        if r.size == 0:
            continue
        dn = np.ascontiguousarray(raw[r, c])  # (n, bands): only the crown pixels are copied
        ok = valid_mask(dn[None], nodata)[0]
        xs.append(to_reflectance(dn[ok], scale))
        rs.append(r[ok] + sl.start)
        cs.append(c[ok])
        ks.append(lab[r[ok], c[ok]])
    if not xs:
        return (np.empty((0, 0), np.float32), np.empty(0, np.int64), np.empty(0, np.int64),
                np.empty(0, np.int32))
    return np.concatenate(xs), np.concatenate(rs), np.concatenate(cs), np.concatenate(ks)
