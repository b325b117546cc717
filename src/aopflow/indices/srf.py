"""AOP spectra seen through a Sentinel-2 band's relative spectral response (band-equivalent
reflectance).

The relative spectral responses (SRFs) are ESA's (S2-SRF, COPE-GSEG-EOPG-TN-15-0007 v3.0, 2017)
for Sentinel-2A and Sentinel-2B as the ``pyrsr`` package (Scheffler, GFZ Potsdam) ships them in
its package data, at 1 nm, read with ``pyrsr.rsr.RSR_reader`` (files only, no download).
``pyrsr`` has no Sentinel-2C table, and aopflow fetches none: a Sentinel-2C scene is compared
through the Sentinel-2A responses (:data:`SRF_FALLBACK`, logged where used; ``docs/indices.md``).

Band-equivalent reflectance of band ``k`` for an AOP spectrum ``rho`` sampled at the band
centres ``w_i``::

    rho_k = integral r_k(l) rho(l) dl / integral r_k(l) dl

with ``rho(l)`` the piecewise-linear interpolation of the AOP samples (the cleaned bands only),
evaluated on the SRF's 1 nm grid. It is linear in the samples: ``rho_k = sum_i W_ki rho_i``,
with weights :func:`srf_weights` that sum to 1 and are non-zero only for the few bands under
the response. A box spectrum (1 inside ``[a, b]``, 0 elsewhere) on a sensor with 1 nm bands
gives the response-weighted share ``integral_a^b r_k / integral r_k``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence

import numpy as np

from aopflow.errors import ConfigError, InputDataError
from aopflow.indices.bandmap import S2_ASSETS, nearest_kept_band

log = logging.getLogger(__name__)

#: Sensors with an SRF table in pyrsr -> pyrsr's satellite name.
SRF_SENSORS = {"S2A": "Sentinel-2A", "S2B": "Sentinel-2B"}
#: Sensors without a shipped table -> the sensor whose responses stand in for them.
SRF_FALLBACK = {"S2C": "S2A"}
#: Earth Search asset key -> MSI band name (inverse of S2_ASSETS).
ASSET_BANDS = {a: b for b, a in S2_ASSETS.items()}


def srf_sensor(sensor: str) -> str:
    """The sensor whose SRF table is used for ``sensor`` (S2A, S2B, or S2C -> S2A)."""
    s = sensor.upper()
    if s in SRF_SENSORS:
        return s
    if s in SRF_FALLBACK:
        return SRF_FALLBACK[s]
    raise InputDataError(f"Unknown Sentinel-2 sensor {sensor!r}; expected one of "
                         f"{sorted(SRF_SENSORS) + sorted(SRF_FALLBACK)}.")


def sensor_of_item(item_id: str) -> str:
    """``S2A``/``S2B``/``S2C`` from an item id (``S2B_11SMB_20240615_0_L2A``)."""
    head = str(item_id)[:3].upper()
    if head not in SRF_SENSORS and head not in SRF_FALLBACK:
        raise InputDataError(f"Sentinel-2 item id {item_id!r} does not start with S2A, S2B or "
                             f"S2C; cannot tell its sensor's spectral response.")
    return head


@functools.cache
def response(sensor: str, asset: str) -> tuple[np.ndarray, np.ndarray]:
    """``(wavelength nm, response)`` (float64, 1 nm, peak 1) of ``asset``'s band on ``sensor``.

    Raises:
        ConfigError: an asset key with no MSI band (e.g. ``scl``, ``visual``).
    """
    from pyrsr.rsr import RSR_reader

    if asset not in ASSET_BANDS:
        raise ConfigError(f"sentinel2.bands: {asset!r} is not a Sentinel-2 MSI band asset "
                          f"(expected one of {sorted(ASSET_BANDS)}).")
    sat = SRF_SENSORS[srf_sensor(sensor)]
    band = ASSET_BANDS[asset][1:]  # "B8A" -> "8A", as pyrsr names them
    table = RSR_reader(sat, "MSI", LayerBandsAssignment=[band])[band]
    return table[:, 0].astype(np.float64), table[:, 1].astype(np.float64)


def band_centre(sensor: str, asset: str) -> float:
    """Response-weighted centre wavelength nm of ``asset``'s band on ``sensor``."""
    lam, r = response(sensor, asset)
    return float(np.sum(lam * r) / np.sum(r))


def srf_weights(wavelengths: np.ndarray, kept: Sequence[int], wl_srf: np.ndarray,
                r_srf: np.ndarray, *, source: str = "tile") -> tuple[np.ndarray, np.ndarray]:
    """Weights of the AOP bands in one band-equivalent reflectance (module docstring).

    Args:
        wavelengths: ``(bands,)`` AOP band centres nm.
        kept: indices of the cleaned bands (only they are used).
        wl_srf, r_srf: the response on a regular grid (nm; unitless, >= 0).

    Returns:
        ``(bands, weights)``: int band indices (ascending) and float64 weights summing to 1.

    Raises:
        InputDataError: the response reaches past the kept bands (no extrapolation).
    """
    wl = np.asarray(wavelengths, dtype=np.float64)
    kept = np.sort(np.asarray(kept, dtype=int))
    x = wl[kept]
    lam = np.asarray(wl_srf, dtype=np.float64)
    r = np.asarray(r_srf, dtype=np.float64)
    sig = r > 0
    if not sig.any():
        raise InputDataError("spectral response is zero everywhere")
    if lam[sig].min() < x.min() or lam[sig].max() > x.max():
        raise InputDataError(
            f"{source}: the spectral response {lam[sig].min():.0f}-{lam[sig].max():.0f} nm reaches "
            f"past the kept AOP bands ({x.min():.0f}-{x.max():.0f} nm).")
    # Hat-function weights of linear interpolation: rho(l) = (1 - t) rho_j + t rho_{j+1}.
    j = np.clip(np.searchsorted(x, lam, side="right") - 1, 0, x.size - 2)
    t = np.clip((lam - x[j]) / (x[j + 1] - x[j]), 0.0, 1.0)
    w = np.zeros(x.size)
    np.add.at(w, j, r * (1.0 - t))
    np.add.at(w, j + 1, r * t)
    w /= r.sum()
    nz = np.flatnonzero(w > 0)
    return kept[nz], w[nz]


def s2_band_layers(wavelengths: np.ndarray, kept: Sequence[int], assets: Sequence[str], *,
                   source: str = "tile") -> list[tuple[str, np.ndarray, np.ndarray]]:
    """AOP in the Sentinel-2 bands ``assets``: ``(name, band indices, weights)`` per layer.

    ``nearest_{asset}`` (the kept AOP band nearest the Sentinel-2A band's response-weighted
    centre, weight 1) for every asset, then ``srf_{sensor}_{asset}`` (:func:`srf_weights`) for
    every sensor of :data:`SRF_SENSORS` and asset. A layer's value is
    ``reflectance[..., indices] @ weights``.
    """
    layers = []
    for asset in assets:
        b = nearest_kept_band(wavelengths, kept, band_centre("S2A", asset))
        layers.append((f"nearest_{asset}", np.array([b]), np.array([1.0])))
    for sensor in SRF_SENSORS:
        for asset in assets:
            idx, w = srf_weights(wavelengths, kept, *response(sensor, asset), source=source)
            layers.append((f"srf_{sensor}_{asset}", idx, w))
    return layers
