"""The demo landscape: material abundances at any site-CRS point, site and surroundings.

Over the site the abundances are exactly :func:`aopflow.demo.aop.abundances_at`; around it
(scenes extend ``margin_m`` beyond the site, so reading only the site's windows is testable) a
background landscape of the same materials is blended in over a 300 m wide feather outside the
site edge.
"""

from __future__ import annotations

import numpy as np

from aopflow.demo.aop import SiteSpec, abundances_at
from aopflow.demo.sentinel2.grid import site_bounds


def bump_field(rng: np.random.Generator, x, y, centres_x, centres_y, width) -> np.ndarray:
    """Sum of Gaussian bumps (random amplitude and width), each cut off beyond 4 sigma.

    The cut-off is exact per point (a function of position only), so any two grids sampling
    the same place get the same value; on 2-D quasi-regular grids only the block of rows and
    columns near each bump is evaluated.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    f = np.zeros(x.shape)
    amp = rng.uniform(0.5, 1.5, len(centres_x))
    w = width * rng.uniform(0.6, 1.4, len(centres_x))
    two_d = x.ndim == 2
    if two_d:
        rmin, rmax = y.min(axis=1), y.max(axis=1)
        cmin, cmax = x.min(axis=0), x.max(axis=0)
    for cx, cy, a, s in zip(centres_x, centres_y, amp, w):
        cut = 4.0 * s
        if two_d:
            rows = np.nonzero((rmax >= cy - cut) & (rmin <= cy + cut))[0]
            cols = np.nonzero((cmax >= cx - cut) & (cmin <= cx + cut))[0]
            if not len(rows) or not len(cols):
                continue
            sl = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        else:
            sl = (slice(None),)
        dx = x[sl] - cx
        dy = y[sl] - cy
        inside = (np.abs(dx) < cut) & (np.abs(dy) < cut)
        f[sl] += np.where(inside, a * np.exp(-(dx * dx + dy * dy) / (2 * s * s)), 0.0)
    return f


def landscape(aop: SiteSpec, x: np.ndarray, y: np.ndarray, seed: int, extent) -> np.ndarray:
    """Abundances ``(..., n_materials)`` float32 at site-CRS points x, y (m).

    Inside the site exactly :func:`abundances_at`; outside it a background of the same
    materials (smooth random fields, seed ``seed``, over ``extent`` = (xmin, ymin, xmax, ymax)),
    blended in over 300 m outside the site edge. On 2-D grids the background (smooth on a
    700 m scale) is evaluated at every second pixel in each direction and repeated.
    """
    sx0, sy0, sx1, sy1 = site_bounds(aop)
    dx = np.maximum(np.maximum(sx0 - x, x - sx1), 0.0)
    dy = np.maximum(np.maximum(sy0 - y, y - sy1), 0.0)
    w = np.clip(1.0 - np.hypot(dx, dy) / 300.0, 0.0, 1.0)[..., None]
    n = len(aop.materials)
    out = np.empty(np.shape(x) + (n,), dtype=np.float32)
    inside = w[..., 0] > 0
    xmin, ymin, xmax, ymax = extent
    count = max(4, int((xmax - xmin) * (ymax - ymin) / 4e6))
    rng = np.random.default_rng([seed, 11])
    coarse = np.ndim(x) == 2
    xc, yc = (x[::2, ::2], y[::2, ::2]) if coarse else (x, y)
    fields = []
    for _ in range(n):
        cx = rng.uniform(xmin, xmax, count)
        cy = rng.uniform(ymin, ymax, count)
        fields.append(bump_field(rng, xc, yc, cx, cy, 700.0))
    z = 4.0 * np.stack(fields, axis=-1)
    z -= z.max(axis=-1, keepdims=True)
    bg = np.exp(z)
    bg /= bg.sum(axis=-1, keepdims=True)
    if coarse:
        bg = np.repeat(np.repeat(bg, 2, axis=0), 2, axis=1)[: x.shape[0], : x.shape[1]]
    out[:] = bg
    if inside.any():
        site = abundances_at(aop, x[inside], y[inside])
        wi = w[inside]
        out[inside] = (wi * site + (1 - wi) * bg[inside]).astype(np.float32)
    return out
