"""Shared input checks and block sizes of the spectral algorithms (shapes, dtypes, rank)."""

from __future__ import annotations

import logging
import numbers

import numpy as np

from aopflow.errors import ConfigError


log = logging.getLogger(__name__)

#: Pixels per block for float64 temporaries: 2048 x 426 bands x 8 bytes = 7 MB, small enough
#: to stay in cache across the several passes SAM/SID make over a block (measured 1.5-2x
#: faster than 8192), large enough to amortise the per-block Python overhead.
_BLOCK = 2048

#: Pixels per block in the abundance solvers (keeps their (n, block) temporaries in cache).
_SOLVE_BLOCK = 65536

#: Largest n for which the abundance solvers tabulate all 2^n support matrices.
_TABLE_MAX_N = 12

#: A principal direction whose variance is below this fraction of the largest one is treated
#: as absent when deciding whether the data can support n endmembers. 1e-8 in variance is
#: 1e-4 in standard deviation: far below sensor noise in real reflectance (so real tiles
#: always pass) and far above float32 round-off (so degenerate samples are caught).
_RANK_RTOL = 1e-8







def _pixels(X: np.ndarray, name: str = "X") -> np.ndarray:
    """Return ``X`` as a 2-D float array (float32 unless already float64), without copying."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (pixels, bands) array; got shape {X.shape}")
    if X.dtype != np.float32 and X.dtype != np.float64:
        X = X.astype(np.float32)
    return X


def _endmembers(E: np.ndarray, n_bands: int) -> np.ndarray:
    """Return ``E`` as a 2-D float64 (n, B) array with B == ``n_bands``."""
    E = np.asarray(E, dtype=np.float64)
    if E.ndim != 2 or E.shape[1] != n_bands or E.shape[0] < 1:
        raise ValueError(
            f"Endmembers must be an (n, {n_bands}) array matching the pixels' {n_bands} bands; "
            f"got shape {E.shape}. Resample a library with resample_spectra() first."
        )
    if not np.isfinite(E).all():
        raise ValueError("Endmembers contain NaN or infinite values")
    return E


def _blocks(n_rows: int, size: int = _BLOCK):
    for start in range(0, n_rows, size):
        yield slice(start, min(start + size, n_rows))


def _check_n(n: object, n_pixels: int, n_bands: int) -> int:
    """Validate the number of endmembers against the sample; ConfigError naming endmembers.n."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise ConfigError(f"endmembers.n must be an integer >= 2; got {n!r}")
    n = int(n)
    if n < 2:
        raise ConfigError(f"endmembers.n must be >= 2 (a mixture needs two endmembers); got {n}")
    if n - 1 > n_bands:
        raise ConfigError(
            f"endmembers.n = {n} needs at least n-1 = {n - 1} bands but the data have {n_bands}; "
            "reduce endmembers.n."
        )
    if n_pixels < n:
        raise ConfigError(
            f"endmembers.n = {n} but the sample has only {n_pixels} valid pixels; reduce "
            "endmembers.n or sample more pixels."
        )
    return n


def _rank_error(n: int, detail: str) -> ConfigError:
    return ConfigError(
        f"The pixel sample cannot support endmembers.n = {n} endmembers: {detail}. The data "
        "span fewer independent spectral directions than needed (too few distinct pixels, "
        "or nearly identical spectra); reduce endmembers.n or sample a more varied area."
    )


def _require_finite(X: np.ndarray) -> None:
    for blk in _blocks(X.shape[0], 8 * _BLOCK):
        if not np.isfinite(X[blk]).all():
            raise ValueError(
                "X contains NaN or infinite values; drop nodata pixels first "
                "(extract_endmembers() does this)"
            )
