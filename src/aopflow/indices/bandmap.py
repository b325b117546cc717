"""Band symbols -> AOP bands and Sentinel-2 assets: one rule each.

AOP (426 bands, 5 nm): **the cleaned band nearest the symbol's centre**, the centre being the
middle of spyndex's wavelength range for the symbol (``N`` 760-900 nm -> 830 nm, ``R``
620-690 -> 655 nm, ``S1`` 1550-1750 -> 1650 nm; the own narrow symbols ``R531``... their
wavelength). Cleaned: bands inside the water-vapour windows and the noisy tail
(:mod:`aopflow.clean`) are never used. Why the nearest band and not the mean of the bands
inside the range:

* NEON's own index products (DP3.30026.001, DP3.30019.001) are computed from single narrow
  bands at stated wavelengths, as the papers that define PRI, WBI, NDII, MSI and NMDI do;
  a range mean would make a new, broadband index that no reference matches;
* it reads one band per symbol: every symbol of the catalogue is 18 bands of 426, about 4 % of
  the cube, so the indices add little to the per-tile pass that computes NDVI (a range mean
  would read about 40 % of the cube for the ten NEON indices, ``bench/bench_indices.py``);
* the broadband view exists where it is the right question: AOP seen through a Sentinel-2
  band's spectral response (:mod:`aopflow.indices.srf`), for comparing with Sentinel-2.

Sentinel-2: a symbol maps to the MSI band spyndex names for it (``spyndex.bands[sym]
.sentinel2a.band``, the same for 2B) and that band to its Earth Search asset key
(:data:`S2_ASSETS`); an index is computable when every symbol maps to an asset of
``sentinel2.bands``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from aopflow.errors import InputDataError
from aopflow.indices.catalogue import IndexSpec, load_spyndex, band_symbols

#: Sentinel-2 MSI band -> Earth Search v1 asset key.
S2_ASSETS: dict[str, str] = {
    "B1": "coastal", "B2": "blue", "B3": "green", "B4": "red", "B5": "rededge1",
    "B6": "rededge2", "B7": "rededge3", "B8": "nir", "B8A": "nir08", "B9": "nir09",
    "B11": "swir16", "B12": "swir22",
}


def symbol_centres() -> dict[str, float]:
    """Symbol -> centre wavelength nm (middle of its range), every symbol of
    :func:`~aopflow.indices.catalogue.band_symbols`, in that (fixed) order."""
    return {s: (lo + hi) / 2.0 for s, (lo, hi) in band_symbols().items()}


def nearest_kept_band(wavelengths: np.ndarray, kept: Sequence[int], centre: float) -> int:
    """0-based index of the kept band whose centre is nearest ``centre`` nm."""
    wl = np.asarray(wavelengths, dtype=np.float64)
    kept = np.asarray(kept, dtype=int)
    return int(kept[np.argmin(np.abs(wl[kept] - centre))])


def aop_symbol_bands(wavelengths: np.ndarray, kept: Sequence[int],
                     symbols: Iterable[str] | None = None, *, source: str = "tile",
                     missing: dict[str, str] | None = None) -> dict[str, int]:
    """Symbol -> 0-based AOP band index: the kept band nearest the symbol's centre.

    Args:
        wavelengths: ``(bands,)`` band centres nm of the tile.
        kept: indices of the cleaned bands (:func:`aopflow.clean.tile_good_bands`).
        symbols: which symbols (default every one of :func:`symbol_centres`).
        source: the file, for the error message.
        missing: if a dict, a symbol without a band is put there (symbol -> the reason) and
            left out of the result, instead of raising (the per-tile extract holds every
            symbol; only an index that needs a missing one fails).

    Raises:
        InputDataError: a symbol's centre is more than its range's half-width (at least 10
            nm) from every kept band (a sensor that does not reach it, or cleaning that
            dropped its region).
    """
    wl = np.asarray(wavelengths, dtype=np.float64)
    kept = np.asarray(kept, dtype=int)
    if kept.size == 0:
        raise InputDataError(f"{source}: no band is left after cleaning; indices need bands.")
    ranges = band_symbols()
    centres = symbol_centres()
    out = {}
    for s in (symbols if symbols is not None else centres):
        c = centres[s]
        lo, hi = ranges[s]
        i = nearest_kept_band(wl, kept, c)
        if abs(wl[i] - c) > max((hi - lo) / 2.0, 10.0):
            why = (f"{source}: no kept band near {c:.0f} nm for symbol {s} ({lo:.0f}-{hi:.0f} nm); "
                   f"the nearest kept band is at {wl[i]:.1f} nm. The sensor does not cover it or "
                   f"the clean section drops that region; drop the indices that use {s}.")
            if missing is None:
                raise InputDataError(why)
            missing[s] = why
            continue
        out[s] = i
    return out


def s2_symbol_assets() -> dict[str, str]:
    """Symbol -> Earth Search asset key, for the symbols that have a Sentinel-2 band."""
    sp = load_spyndex()
    out = {}
    for s, b in sp.bands.items():
        s2 = getattr(b, "sentinel2a", None)
        if s2 is not None and s2.band in S2_ASSETS:
            out[s] = S2_ASSETS[s2.band]
    return out


def s2_computable(specs: Iterable[IndexSpec], assets: Sequence[str]
                  ) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """Which indices the Sentinel-2 assets read (``sentinel2.bands``) can give.

    Returns:
        ``(ok, why_not)``: ``ok`` name -> {symbol: asset}; ``why_not`` name -> the reason
        (a symbol without Sentinel-2 band, or assets not in ``sentinel2.bands``).
    """
    have = set(assets)
    sym_asset = s2_symbol_assets()
    ok, why = {}, {}
    for spec in specs:
        no_band = [s for s in spec.bands if s not in sym_asset]
        if no_band:
            why[spec.name] = (f"band(s) {', '.join(no_band)} have no Sentinel-2 MSI band "
                              f"({spec.formula})")
            continue
        need = {s: sym_asset[s] for s in spec.bands}
        missing = sorted({a for a in need.values() if a not in have})
        if missing:
            why[spec.name] = (f"needs asset(s) {', '.join(missing)}, not in sentinel2.bands "
                              f"{list(assets)}")
            continue
        ok[spec.name] = need
    return ok, why


def s2_band_wavelengths(symbols: Iterable[str]) -> dict[str, float]:
    """Symbol -> Sentinel-2A centre wavelength nm (for ``lambdaX`` constants)."""
    sp = load_spyndex()
    return {s: float(sp.bands[s].sentinel2a.wavelength) for s in symbols}
