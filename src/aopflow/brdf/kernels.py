"""BRDF kernels: Ross-thick volumetric and Li-sparse geometric (Wanner, Li & Strahler 1995).

All angles in **radians**; arrays broadcast. ``ts`` solar zenith, ``tv`` view zenith, ``phi``
relative azimuth = view azimuth - solar azimuth (HyTools' convention; azimuths clockwise from
north, the view azimuth being NEON's *to-sensor* azimuth, from the pixel to the sensor). With
``phi = 0`` the sensor is on the sun's side of the pixel and looks along the sun's rays:
backscatter, the hot spot, where both kernels are largest.

Two Li-sparse forms (``shared/BRDF.md`` section 2):

* :func:`li_sparse` - the **non-reciprocal** form of Wanner et al. (1995, eq. 32), HyTools'
  ``li_sparse``. NEON records exactly this kernel (``geometric: li_sparse``, ``b/r: 10``,
  ``h/b: 2``, ``volume: ross_thick``) in the ``BRDF_COEFFS_JSON_for_Hytools`` of every .002
  tile, so coefficients fitted with it are comparable with NEON's own .002 processing; it is
  aopflow's default.
* :func:`li_sparse_r` - the **reciprocal** form of Lucht, Schaaf & Strahler (2000, eq. 39),
  MODIS' LiSparse-R (HyTools' ``li_sparse_r``), symmetric in ``ts <-> tv``; available as
  ``brdf.geometric: li_sparse_r``.

Crown shape: ``br`` = b/r (crown vertical/horizontal radius), ``hb`` = h/b (crown centre
height / vertical radius); NEON's values 10 and 2 are the defaults (MODIS uses b/r = 1).
With b/r = 10 the Li kernels are large (about -10 .. +13 for NEON's view angles), so fitted
``f_geo`` are a few thousandths of ``f_iso``.
"""

from __future__ import annotations

import numpy as np

#: NEON's crown shape (the .002 tiles' BRDF_COEFFS_JSON_for_Hytools: b/r 10, h/b 2).
NEON_BR = 10.0
NEON_HB = 2.0


def _cos_phase(ts, tv, phi):
    return np.cos(ts) * np.cos(tv) + np.sin(ts) * np.sin(tv) * np.cos(phi)


def ross_thick(ts, tv, phi):
    """Ross-thick volumetric kernel (Wanner et al. 1995 eq. 7); 0 at ts = tv = 0.

    K_vol = ((pi/2 - xi) cos xi + sin xi) / (cos ts + cos tv) - pi/4, xi the phase angle.
    """
    cos_xi = np.clip(_cos_phase(ts, tv, phi), -1.0, 1.0)
    xi = np.arccos(cos_xi)
    return ((np.pi / 2 - xi) * cos_xi + np.sin(xi)) / (np.cos(ts) + np.cos(tv)) - np.pi / 4


def _li_terms(ts, tv, phi, br, hb):
    """Shared terms of both Li forms: (overlap O, sec ts', sec tv', cos xi').

    With t' = atan(b/r tan t): tan t' = b/r tan t, sec t' = sqrt(1 + tan^2 t') and
    cos xi' = cos ts' cos tv' + sin ts' sin tv' cos phi = (1 + tan ts' tan tv' cos phi) /
    (sec ts' sec tv'), so no inverse or further trigonometric function is evaluated for them.
    """
    tan_s = br * np.tan(ts)
    tan_v = br * np.tan(tv)
    sec_s = np.sqrt(1.0 + tan_s**2)
    sec_v = np.sqrt(1.0 + tan_v**2)
    cos_phi = np.cos(phi)
    d2 = np.maximum(tan_s**2 + tan_v**2 - 2.0 * tan_s * tan_v * cos_phi, 0.0)
    cos_t = hb * np.sqrt(d2 + (tan_s * tan_v * np.sin(phi)) ** 2) / (sec_s + sec_v)
    t = np.arccos(np.clip(cos_t, -1.0, 1.0))
    overlap = (t - np.sin(t) * np.cos(t)) * (sec_s + sec_v) / np.pi
    return overlap, sec_s, sec_v, (1.0 + tan_s * tan_v * cos_phi) / (sec_s * sec_v)


def li_sparse(ts, tv, phi, br: float = NEON_BR, hb: float = NEON_HB):
    """Li-sparse geometric kernel, non-reciprocal (Wanner et al. 1995 eq. 32; HyTools and NEON).

    K_geo = O - sec ts' - sec tv' + (1 + cos xi') sec tv' / 2; 0 at ts = tv = 0.
    """
    overlap, sec_s, sec_v, cos_xip = _li_terms(ts, tv, phi, br, hb)
    return overlap - sec_s - sec_v + 0.5 * (1.0 + cos_xip) * sec_v


def li_sparse_r(ts, tv, phi, br: float = NEON_BR, hb: float = NEON_HB):
    """Li-sparse geometric kernel, reciprocal (Lucht et al. 2000 eq. 39; MODIS LiSparse-R).

    K_geo = O - sec ts' - sec tv' + (1 + cos xi') sec ts' sec tv' / 2; 0 at ts = tv = 0 and
    symmetric in ts <-> tv.
    """
    overlap, sec_s, sec_v, cos_xip = _li_terms(ts, tv, phi, br, hb)
    return overlap - sec_s - sec_v + 0.5 * (1.0 + cos_xip) * sec_s * sec_v


#: Volumetric and geometric kernels by the names NEON/HyTools use (``brdf.geometric``).
VOLUME_KERNELS = {"ross_thick": ross_thick}
GEOMETRIC_KERNELS = {"li_sparse": li_sparse, "li_sparse_r": li_sparse_r}


def geometric_kernel(name: str):
    """The geometric kernel function called ``name`` (a key of :data:`GEOMETRIC_KERNELS`)."""
    try:
        return GEOMETRIC_KERNELS[name]
    except KeyError:
        raise ValueError(f"Unknown method {name!r} for brdf.geometric; must be one of {sorted(GEOMETRIC_KERNELS)}") from None


def kernels_deg(solar_zenith, solar_azimuth, view_zenith, view_azimuth, *, geometric: str = "li_sparse",
                br: float = NEON_BR, hb: float = NEON_HB, dtype=np.float64):
    """``(K_vol, K_geo)`` from angles in **degrees** (azimuths clockwise from north; the view
    azimuth is NEON's to-sensor azimuth). Arrays of the broadcast shape in ``dtype`` (float32
    for a tile's million pixels: about 1e-6 relative, twice as fast)."""
    ts = np.radians(np.asarray(solar_zenith, dtype=dtype))
    tv = np.radians(np.asarray(view_zenith, dtype=dtype))
    phi = np.radians(np.asarray(view_azimuth, dtype=dtype) - np.asarray(solar_azimuth, dtype=dtype))
    return ross_thick(ts, tv, phi), geometric_kernel(geometric)(ts, tv, phi, br, hb)
