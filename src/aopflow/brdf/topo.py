"""SCS+C topographic correction (Soenen, Peddle & Coburn 2005), as HyTools and NEON apply it.

Angles in degrees (azimuths clockwise from north; ``aspect`` is the direction the slope faces).
Per band, ``rho = a cos i + b`` is fitted by least squares over one flight line's samples
(one sun position per regression: pooling lines flown at different sun positions biases C
several-fold, ``shared/BRDF.md`` section 4), ``C = b / a`` (refined on sloped terrain, see
:func:`fit_c`), and the corrected reflectance is ``rho (cos ts cos s + C) / (cos i + C)``.
"""

from __future__ import annotations

import numpy as np

#: C of a band whose regression has no positive slope (no terrain signal): the factor is then 1
#: to 1e-5 (HyTools' guard for a zero slope).
C_NONE = 1e5
#: Pixels facing away from the sun (cos i at most this) are not corrected (the factor would be
#: unbounded); their factor is 1.
MIN_COS_I = 0.05


def cos_incidence(solar_zenith, solar_azimuth, slope, aspect):
    """cos i = cos ts cos s + sin ts sin s cos(solar az - aspect), float64."""
    ts, s = np.radians(solar_zenith), np.radians(slope)
    return np.cos(ts) * np.cos(s) + np.sin(ts) * np.sin(s) * np.cos(np.radians(np.asarray(solar_azimuth) - aspect))


def cos_flat(solar_zenith, slope):
    """cos ts cos s: the incidence term a flat (or any) surface is corrected to."""
    return np.cos(np.radians(solar_zenith)) * np.cos(np.radians(slope))


def fit_c(rho: np.ndarray, cos_i: np.ndarray, cos_flat_: np.ndarray | None = None, iterations: int = 30) -> np.ndarray:
    """C per band ``(B,)`` float64 from one flight line's samples ``rho (n, B)`` and their
    ``cos_i (n,)`` (and ``cos_flat_`` = cos ts cos s, ``(n,)``).

    First HyTools' estimate: ordinary least squares ``rho = a cos i + b`` per band, ``C = b / a``.
    That estimate is exact when every sample has the same cos ts cos s, but on terrain of mixed
    slopes it is biased upward (SCS+C normalises to cos ts cos s, which falls with slope, as
    cos i does on average), by about 30 % for slopes of 0-30 degrees. So, given ``cos_flat_``,
    C is then refined (bisection in log C, ``iterations`` steps) to the value at which the
    SCS+C-corrected samples are uncorrelated with cos i, which the regression's C satisfies
    exactly in the constant-slope case. A band with ``a <= 0`` (no terrain signal) or no root
    below 1000 gets :data:`C_NONE` (factor 1).
    """
    x = np.asarray(cos_i, dtype=np.float64)
    y = np.asarray(rho, dtype=np.float64)
    if x.size < 3 or np.ptp(x) <= 0:
        return np.full(y.shape[1], C_NONE)
    xm = x.mean()
    dx = x - xm
    a = dx @ (y - y.mean(axis=0)) / (dx @ dx)
    b = y.mean(axis=0) - a * xm
    with np.errstate(divide="ignore", invalid="ignore"):
        c = b / a
    bad = ~(a > 0) | ~(c >= 0) | ~np.isfinite(c)
    if cos_flat_ is not None and (~bad).any():
        cf = np.asarray(cos_flat_, dtype=np.float64)[:, None]
        yb = y[:, ~bad]

        def corr(cv):  # covariance of the corrected samples with cos i, per band
            return dx @ (yb * (cf + cv) / (x[:, None] + cv))

        lo = np.full(yb.shape[1], np.log(1e-3))
        hi = np.full(yb.shape[1], np.log(1e3))
        none = corr(np.exp(hi)) <= 0  # still over-corrected with hardly any correction
        for _ in range(iterations):
            mid = 0.5 * (lo + hi)
            pos = corr(np.exp(mid)) > 0  # under-corrected: C too large
            hi = np.where(pos, mid, hi)
            lo = np.where(pos, lo, mid)
        refined = np.exp(0.5 * (lo + hi))
        refined[none] = C_NONE
        c[~bad] = refined
    c[bad] = C_NONE
    return np.minimum(c, C_NONE)


def scsc_factor(cos_flat_, cos_i, c):
    """SCS+C factor ``(n, B)`` for pixels ``(n,)`` and C ``(B,)`` or ``(n, B)``; 1 where
    cos i <= :data:`MIN_COS_I`."""
    cf = np.asarray(cos_flat_)[:, None]
    ci = np.asarray(cos_i)[:, None]
    f = (cf + c) / (ci + c)
    return np.where(ci > MIN_COS_I, f, 1.0)
