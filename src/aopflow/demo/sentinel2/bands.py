"""Band-averaged material spectra of the demo scenes and the vegetation's phenology.

Spectral model
    Each material's spectrum (:data:`aopflow.demo.aop.MATERIALS`, on a 1 nm grid) is averaged
    over a Gaussian approximation of the Sentinel-2 MSI spectral response of B02 (blue), B03
    (green), B04 (red) and B08 (nir), with the centre wavelengths and FWHM Earth Search v1 lists
    in ``eo:bands`` (:data:`BANDS`). Pixel reflectance is the abundance-weighted (linear) mixture
    of these band-averaged spectra, plus Gaussian sensor noise (``noise``, reflectance units).

Phenology
    The green-vegetation material changes through the year: its spectrum on day-of-year ``d``
    is ``g(d) * vegetation + (1 - g(d)) * dry_vegetation`` with the greenness curve
    ``g(d) = g_min + (1 - g_min) * (L(d; 125, 12) - L(d; 275, 12))``, ``L`` a logistic of
    midpoint and width in days (:func:`greenness`): green-up in early May, senescence in early
    October. The other materials do not change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np

from aopflow.demo.aop import endmember_spectra


#: Asset key -> (band name, centre wavelength nm, FWHM nm, title), as Earth Search v1 lists them.
BANDS: dict[str, tuple[str, float, float, str]] = {
    "blue": ("B02", 490.0, 98.0, "Blue (band 2) - 10m"),
    "green": ("B03", 560.0, 45.0, "Green (band 3) - 10m"),
    "red": ("B04", 665.0, 38.0, "Red (band 4) - 10m"),
    "nir": ("B08", 842.0, 145.0, "NIR 1 (band 8) - 10m"),
}
BAND_KEYS: tuple[str, ...] = tuple(BANDS)


def band_response(key: str, wavelengths: np.ndarray) -> np.ndarray:
    """Gaussian spectral response (peak 1) of band ``key`` at ``wavelengths`` (nm)."""
    _, centre, fwhm, _ = BANDS[key]
    sigma = fwhm / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    return np.exp(-0.5 * ((wavelengths - centre) / sigma) ** 2)


def band_spectra(materials: Sequence[str]) -> np.ndarray:
    """Band-averaged reflectance ``(n_materials, 4)`` float64 (blue, green, red, nir)."""
    wl = np.arange(380.0, 1101.0, 1.0)
    E = endmember_spectra(materials, wl)
    R = np.stack([band_response(k, wl) for k in BAND_KEYS], axis=1)  # (nwl, 4)
    return E @ R / R.sum(axis=0)


def greenness(doy: float | np.ndarray, g_min: float = 0.25) -> np.ndarray:
    """Seasonal greenness in [g_min, 1] on day-of-year ``doy`` (double logistic)."""
    doy = np.asarray(doy, dtype=float)
    up = 1.0 / (1.0 + np.exp(-(doy - 125.0) / 12.0))
    down = 1.0 / (1.0 + np.exp(-(doy - 275.0) / 12.0))
    return g_min + (1.0 - g_min) * np.clip(up - down, 0.0, 1.0)


def spectra_on(materials: Sequence[str], date: dt.date) -> np.ndarray:
    """Band spectra ``(n_materials, 4)`` on ``date``: vegetation follows the greenness curve."""
    E = band_spectra(materials)
    if "vegetation" in materials:
        g = float(greenness(date.timetuple().tm_yday))
        dry = band_spectra(["dry_vegetation"])[0]
        k = list(materials).index("vegetation")
        E[k] = g * E[k] + (1.0 - g) * dry
    return E
