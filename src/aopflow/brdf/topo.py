"""SCS+C topographic correction (Soenen, Peddle & Coburn 2005), as HyTools and NEON apply it.

Angles in degrees (azimuths clockwise from north; ``aspect`` is the direction the slope faces).
Per band, ``rho = a cos i + b`` is fitted by least squares over one flight line's samples
(one sun position per regression: pooling lines flown at different sun positions biases C
several-fold, ``shared/BRDF.md`` section 4), ``C = b / a``, and the corrected reflectance is
``rho (cos ts cos s + C) / (cos i + C)``.
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


def fit_c(rho: np.ndarray, cos_i: np.ndarray) -> np.ndarray:
    """C per band ``(B,)`` float64 from samples ``rho (n, B)`` and their ``cos_i (n,)``.

    Ordinary least squares ``rho = a cos i + b`` per band, ``C = b / a``; a band with
    ``a <= 0`` or ``C < 0`` (no terrain signal, or noise) gets :data:`C_NONE`.
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
    c[bad] = C_NONE
    return np.minimum(c, C_NONE)


def scsc_factor(cos_flat_, cos_i, c):
    """SCS+C factor ``(n, B)`` for pixels ``(n,)`` and C ``(B,)`` or ``(n, B)``; 1 where
    cos i <= :data:`MIN_COS_I`."""
    cf = np.asarray(cos_flat_)[:, None]
    ci = np.asarray(cos_i)[:, None]
    f = (cf + c) / (ci + c)
    return np.where(ci > MIN_COS_I, f, 1.0)
