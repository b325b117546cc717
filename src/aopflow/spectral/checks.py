"""Shared input checks and block sizes of the spectral algorithms (shapes, dtypes, pixel blocks).

The checks of one algorithm only live in its module (e.g. the rank checks in
:mod:`aopflow.spectral.extract`, the solver block sizes in :mod:`aopflow.spectral.unmixing`).
"""

from __future__ import annotations

import numpy as np

#: Pixels per block for float64 temporaries: 2048 x 426 bands x 8 bytes = 7 MB, small enough
#: to stay in cache across the several passes SAM/SID make over a block (measured 1.5-2x
#: faster than 8192), large enough to amortise the per-block Python overhead.
BLOCK = 2048


def as_pixels(X: np.ndarray, name: str = "X") -> np.ndarray:
    """``X`` as a 2-D float array (float32 unless already float64), without copying."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (pixels, bands) array; got shape {X.shape}")
    if X.dtype != np.float32 and X.dtype != np.float64:
        X = X.astype(np.float32)
    return X


def as_endmembers(E: np.ndarray, n_bands: int) -> np.ndarray:
    """``E`` as a 2-D float64 (n, B) array with B == ``n_bands``."""
    E = np.asarray(E, dtype=np.float64)
    if E.ndim != 2 or E.shape[1] != n_bands or E.shape[0] < 1:
        raise ValueError(
            f"Endmembers must be an (n, {n_bands}) array matching the pixels' {n_bands} bands; "
            f"got shape {E.shape}. Resample a library with resample_spectra() first."
        )
    if not np.isfinite(E).all():
        raise ValueError("Endmembers contain NaN or infinite values")
    return E


def row_blocks(n_rows: int, size: int = BLOCK):
    """Slices ``[0, size)``, ``[size, 2 size)``, ... covering ``n_rows`` rows (the last one shorter)."""
    for start in range(0, n_rows, size):
        yield slice(start, min(start + size, n_rows))
