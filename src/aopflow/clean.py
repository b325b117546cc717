"""Cleaning of reflectance: no-data mask, scale factor, water-vapour and noisy bands removed.

Follows NEON's tutorials (``shared/NEON_FORMAT.md`` 3.4): bands whose centre wavelength lies
inside the file's ``Band_Window_1/2_Nanometers`` (1340-1445 and 1790-1955 nm in every published
tile) are dropped, plus the last N bands ("the last 10 bands sometimes have noise"). Values > 1
are kept: bright targets legitimately exceed 1 after atmospheric correction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from aopflow.errors import ConfigError


class BandMeta(Protocol):
    """What :func:`tile_good_bands` reads of a tile's metadata (:class:`aopflow.neon.reader.TileMeta`
    has both): the band centres (nm) and the file's water-vapour windows (nm, inclusive)."""

    @property
    def wavelengths(self) -> np.ndarray: ...

    @property
    def band_windows(self) -> Sequence[tuple[float, float]]: ...


@dataclass(frozen=True)
class CleanSpec:
    """What to drop. ``windows=None`` takes the file's own band windows (nm, inclusive)."""

    windows: tuple[tuple[float, float], ...] | None = None
    drop_last: int = 10
    band_step: int = 1

    @classmethod
    def from_config(cls, cfg: Mapping | None) -> CleanSpec:
        cfg = dict(cfg or {})
        windows = cfg.get("windows")
        if windows is not None:
            for w in windows:
                if len(w) != 2 or not w[0] < w[1]:
                    raise ConfigError(
                        f"clean.windows: each window must be [low_nm, high_nm] with low < high, got {w}"
                    )
            windows = tuple((float(a), float(b)) for a, b in windows)
        step = int(cfg.get("band_step", 1))
        if step < 1:
            raise ConfigError(f"clean.band_step must be >= 1, got {step}")
        return cls(windows=windows, drop_last=int(cfg.get("drop_last", 10)), band_step=step)


def good_bands(wavelengths: np.ndarray, spec: CleanSpec, file_windows: Sequence[tuple[float, float]]) -> np.ndarray:
    """0-based indices of the bands kept: outside every window, not among the last N, every k-th."""
    wl = np.asarray(wavelengths, dtype=float)
    keep = np.ones(wl.size, dtype=bool)
    for lo, hi in spec.windows if spec.windows is not None else file_windows:
        keep &= ~((wl >= lo) & (wl <= hi))
    if spec.drop_last:
        keep[-spec.drop_last:] = False
    idx = np.flatnonzero(keep)[:: spec.band_step]
    if idx.size < 3:
        raise ConfigError(
            f"clean: only {idx.size} bands left after removing windows/last bands/band_step; "
            "relax clean.windows, clean.drop_last or clean.band_step."
        )
    return idx


def tile_good_bands(meta: BandMeta, spec: CleanSpec) -> np.ndarray:
    """:func:`good_bands` of a tile, from its metadata (band centres and the file's windows)."""
    return good_bands(meta.wavelengths, spec, meta.band_windows)


def valid_mask(raw: np.ndarray, nodata: float, bands: np.ndarray | None = None) -> np.ndarray:
    """``(rows, cols)`` bool: True where none of ``bands`` (default: all) equals ``nodata``.

    ``raw`` (rows, cols, B) integers, pixel-major or a band-major view. The rule: a pixel is
    no data if any of its bands equals the file's no-data value; computed from one minimum over
    the bands (fast in both layouts) and checked exactly only where the minimum is below
    ``nodata``.
    """
    if bands is not None:
        bands = np.asarray(bands)
        if raw.flags.c_contiguous:
            raw = np.take(raw.reshape(-1, raw.shape[-1]), bands, axis=1).reshape(raw.shape[:2] + (bands.size,))
        else:
            raw = np.moveaxis(np.moveaxis(raw, -1, 0)[bands], 0, -1)
    if raw.flags.c_contiguous:
        low = raw.min(axis=-1)
    else:  # band-major view: elementwise minimum of contiguous band images
        low = np.minimum.reduce(np.moveaxis(raw, -1, 0), axis=0)
    valid = low > nodata
    below = np.flatnonzero(low < nodata)  # == nodata is no data for sure; < needs a look
    if below.size:
        r, c = np.divmod(below, raw.shape[1])
        valid.ravel()[below] = ~np.any(raw[r, c] == nodata, axis=1)
    return valid


def to_reflectance(dn: np.ndarray, scale: float) -> np.ndarray:
    """Digital numbers -> float32 reflectance ``dn / scale`` (never float64)."""
    x = dn.astype(np.float32)
    x *= np.float32(1.0 / scale)
    return x
