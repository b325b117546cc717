"""Spectral libraries: endmember CSV files (wavelength_nm, one column per endmember) and
resampling of library spectra onto an image's bands.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from aopflow.errors import ConfigError, InputDataError
from aopflow.io import atomic_path

log = logging.getLogger(__name__)



def resample_spectra(
    wavelengths_src: np.ndarray, spectra: np.ndarray, wavelengths_dst: np.ndarray
) -> np.ndarray:
    """Linearly interpolate spectra from one band set to another.

    ``wavelengths_src`` (Bs,) nm, strictly increasing; ``spectra`` (Bs,) or (n, Bs);
    ``wavelengths_dst`` (Bd,) nm. Returns float64 (Bd,) or (n, Bd). Raises ConfigError
    naming ``endmembers.library`` if the destination bands are not inside the source range
    (no extrapolation) or the source wavelengths are not strictly increasing.
    """
    src = np.asarray(wavelengths_src, dtype=np.float64)
    dst = np.asarray(wavelengths_dst, dtype=np.float64)
    S = np.asarray(spectra, dtype=np.float64)
    if src.ndim != 1 or S.shape[-1] != src.size or S.ndim not in (1, 2) or dst.ndim != 1:
        raise ValueError(
            f"Need wavelengths_src (B,), spectra (B,) or (n, B), wavelengths_dst (Bd,); got "
            f"{src.shape}, {S.shape}, {dst.shape}"
        )
    if src.size < 2 or not (np.diff(src) > 0).all():
        raise ConfigError(
            "endmembers.library wavelengths must be strictly increasing with at least 2 bands"
        )
    tol = 1e-6  # nm: forgive float formatting of identical band centres
    lo, hi = float(dst.min()), float(dst.max())
    if lo < src[0] - tol or hi > src[-1] + tol:
        raise ConfigError(
            f"endmembers.library covers {src[0]:g}-{src[-1]:g} nm but the image bands span "
            f"{lo:g}-{hi:g} nm; supply library spectra covering every band kept in the image "
            "(values are not extrapolated)."
        )
    x = np.clip(dst, src[0], src[-1])
    right = np.clip(np.searchsorted(src, x, side="right"), 1, src.size - 1)
    left = right - 1
    w = (x - src[left]) / (src[right] - src[left])
    return S[..., left] * (1.0 - w) + S[..., right] * w


def write_endmember_csv(
    path: str | os.PathLike,
    wavelengths: np.ndarray,
    E: np.ndarray,
    names: Sequence[str] | None = None,
) -> None:
    """Write endmembers as CSV: one row per band, ``wavelength_nm,em1,em2,...``.

    ``wavelengths`` (B,) nm, ``E`` (n, B); ``names`` default ``em1..emn``. Values are
    written with full (round-trip) precision; the file appears atomically.
    """
    wl = np.asarray(wavelengths, dtype=np.float64)
    E = np.asarray(E, dtype=np.float64)
    if E.ndim != 2 or wl.ndim != 1 or E.shape[1] != wl.size:
        raise ValueError(f"Need wavelengths (B,) and E (n, B); got {wl.shape} and {E.shape}")
    names = [f"em{i + 1}" for i in range(E.shape[0])] if names is None else list(names)
    if len(names) != E.shape[0] or len(set(names)) != len(names):
        raise ValueError(f"Need {E.shape[0]} distinct endmember names; got {names}")
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["wavelength_nm", *names])
        for b in range(wl.size):
            writer.writerow([repr(float(wl[b])), *(repr(float(v)) for v in E[:, b])])


def read_endmember_csv(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read an endmember CSV written by :func:`write_endmember_csv` (or by hand).

    Format: a header ``wavelength_nm,<name1>,<name2>,...`` then one row per band of numbers
    (blank lines ignored), wavelengths strictly increasing. Returns
    ``(wavelengths (B,) float64 nm, E (n, B) float64, names)``. Raises InputDataError naming
    the file (and line) if it is malformed.
    """
    path = Path(path)

    def bad(msg: str) -> InputDataError:
        return InputDataError(
            f"Endmember library {path}: {msg}. Expected a CSV with header "
            "'wavelength_nm,em1,em2,...' and one row of numbers per band."
        )

    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = [(i + 1, r) for i, r in enumerate(csv.reader(fh)) if any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise InputDataError(f"Cannot read endmember library {path}: {err}") from err
    if not rows:
        raise bad("the file is empty")
    header = [c.strip() for c in rows[0][1]]
    if header[0] != "wavelength_nm":
        raise bad(f"the first column must be 'wavelength_nm', found {header[0]!r}")
    names = header[1:]
    if not names or any(not nm for nm in names) or len(set(names)) != len(names):
        raise bad(f"need one or more distinct, non-empty endmember names; header is {header}")
    if len(rows) < 3:
        raise bad(f"need at least 2 band rows, found {len(rows) - 1}")
    values = np.empty((len(rows) - 1, len(header)))
    for r, (line, row) in enumerate(rows[1:]):
        if len(row) != len(header):
            raise bad(f"line {line} has {len(row)} fields, the header has {len(header)}")
        try:
            values[r] = [float(c) for c in row]
        except ValueError:
            raise bad(f"line {line} holds a value that is not a number: {row}") from None
    if not np.isfinite(values).all():
        line = rows[1 + int(np.flatnonzero(~np.isfinite(values).all(axis=1))[0])][0]
        raise bad(f"line {line} holds NaN or infinity")
    wl = values[:, 0]
    if not (np.diff(wl) > 0).all():
        raise bad("wavelengths must be strictly increasing")
    return wl, np.ascontiguousarray(values[:, 1:].T), names
