"""Spectral similarity and classification: SAM (Kruse et al. 1993, radians), SID (Chang 2000),
and the 1-based class map with 0 = unclassified. Scores are (N, n) float32, smaller = more similar.
"""

from __future__ import annotations

import logging
import numbers
from collections.abc import Callable, Sequence

import numpy as np

from aopflow.errors import ConfigError
from aopflow.spectral.checks import BLOCK, as_endmembers, as_pixels, row_blocks

log = logging.getLogger(__name__)

#: The reflectance floor applied before SID normalisation (one NEON digital number, since
#: reflectance is stored as int16 with scale factor 10000).
SID_FLOOR = 1e-4


def sam(X: np.ndarray, E: np.ndarray) -> np.ndarray:
    """Spectral angle (Kruse et al. 1993) between every pixel and every endmember.

    ``X`` (N, B) float32, ``E`` (n, B). Returns angles (N, n) float32 in radians, in
    [0, pi]; invariant to the scale of either spectrum. Cosines are computed in float64 on
    blocks of pixels (a float32 cosine would limit angles near 0 to ~3e-4 rad). Pixels (or
    endmembers) with zero norm or NaN give NaN.
    """
    X = as_pixels(X)
    E64 = as_endmembers(E, X.shape[1])
    e_norm = np.linalg.norm(E64, axis=1)
    out = np.empty((X.shape[0], E64.shape[0]), dtype=np.float32)
    # One float64 block buffer reused: fresh 20+ MB temporaries cost page faults each time.
    buf = np.empty((min(BLOCK, X.shape[0]), X.shape[1]))
    for blk in row_blocks(X.shape[0]):
        xb = buf[: blk.stop - blk.start]
        np.copyto(xb, X[blk])
        x_norm = np.sqrt(np.einsum("ij,ij->i", xb, xb))
        with np.errstate(divide="ignore", invalid="ignore"):
            cos = (xb @ E64.T) / (x_norm[:, None] * e_norm)
        out[blk] = np.arccos(np.clip(cos, -1.0, 1.0))
    return out


def sid_probabilities(x: np.ndarray, floor: float, out: np.ndarray) -> np.ndarray:
    """SID probability vectors of spectra ``x`` (m, B) into float64 ``out`` (m, B); returns ``out``.

    Clip to ``floor``, divide by the row sum, add eps = ``np.spacing(1)`` (as pysptools).
    """
    np.maximum(x, floor, out=out)  # also the float32 -> float64 cast, in one pass
    out *= 1.0 / out.sum(axis=1, keepdims=True)
    out += np.spacing(1)
    return out


def sid(X: np.ndarray, E: np.ndarray, *, floor: float = SID_FLOOR) -> np.ndarray:
    """Spectral information divergence (Chang 2000) between every pixel and endmember.

    ``X`` (N, B) float32, ``E`` (n, B). Each spectrum becomes a probability vector
    ``p = s / sum(s) + eps`` (eps = ``np.spacing(1)``, as pysptools) and
    ``SID(p, q) = sum(p log(p/q)) + sum(q log(q/p))``, expanded into matrix products
    ``sum p log p + sum q log q - p @ log(q)' - log(p) @ q'`` computed in float64 on blocks.
    Returns (N, n) float32 >= 0.

    Non-positive reflectance (noise in absorption bands) has no probability meaning and
    would make pysptools return NaN; here every value is first raised to ``floor``
    (default 1e-4, one NEON digital number), so spectra that are positive above the floor
    give exactly pysptools' definition. NaN pixels give NaN.
    """
    X = as_pixels(X)
    E64 = as_endmembers(E, X.shape[1])
    q = sid_probabilities(E64, floor, np.empty_like(E64))
    log_q = np.log(q)
    q_log_q = np.einsum("ij,ij->i", q, log_q)
    out = np.empty((X.shape[0], q.shape[0]), dtype=np.float32)
    # Two float64 block buffers reused (see sam()).
    m = min(BLOCK, X.shape[0])
    p_buf, log_buf = np.empty((m, X.shape[1])), np.empty((m, X.shape[1]))
    for blk in row_blocks(X.shape[0]):
        p = sid_probabilities(X[blk], floor, p_buf[: blk.stop - blk.start])
        log_p = np.log(p, out=log_buf[: p.shape[0]])
        d = p @ log_q.T
        d -= np.einsum("ij,ij->i", p, log_p)[:, None]
        d += log_p @ q.T
        d -= q_log_q
        # SID = -(that); it is >= 0 but the expansion can leave -1e-16 from cancellation.
        np.negative(d, out=d)
        out[blk] = np.maximum(d, 0.0)
    return out


#: Strategy table for the similarity measure used by classification.
CLASSIFIERS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {"sam": sam, "sid": sid}


def classify(
    scores: np.ndarray,
    thresholds: float | Sequence[float] | np.ndarray | None = None,
    *,
    key: str = "classify.thresholds",
) -> np.ndarray:
    """Minimum-distance class map from similarity scores (smaller = more similar).

    ``scores`` (N, n), e.g. :func:`sam` angles (radians) or :func:`sid` values.
    ``thresholds``: None (every pixel classified), one number for all classes, or a sequence
    of n numbers (one per class), in the scores' units. A class is a candidate for a pixel
    only if its score is <= its threshold; the pixel gets 1 + the index of the best
    candidate, or 0 (unclassified) if there is none. With one threshold this is simply
    "1 + argmin, 0 if the best score exceeds the threshold"; with per-class thresholds a
    pixel just outside a tight class may fall in a looser one, which is how pysptools
    (``_multiple_values_min``) and ENVI treat per-class maximum angles. NaN scores never
    qualify, so all-NaN pixels get 0 (the caller sets nodata).

    Returns (N,) uint8. Raises ConfigError naming ``key`` for a malformed threshold.
    """
    s = np.asarray(scores)
    if s.ndim != 2:
        raise ValueError(f"scores must be (pixels, classes); got shape {s.shape}")
    n = s.shape[1]
    if n > 255:
        raise ConfigError(f"At most 255 classes fit a uint8 class map; {key} refers to {n}")
    if thresholds is None:
        limit = np.full(n, np.inf)
    elif isinstance(thresholds, numbers.Real) and not isinstance(thresholds, bool):
        limit = np.full(n, float(thresholds))
    else:
        try:
            limit = np.asarray(thresholds, dtype=np.float64)
        except (TypeError, ValueError):
            raise ConfigError(
                f"{key} must be a number or a list of {n} numbers; got {thresholds!r}"
            ) from None
        if limit.ndim != 1 or limit.size != n:
            raise ConfigError(
                f"{key} must be a number or a list of {n} numbers (one per endmember); got "
                f"{thresholds!r} ({limit.size} values)"
            )
    if np.isnan(limit).any() or (limit < 0).any():
        raise ConfigError(f"{key} must be >= 0 (scores are distances); got {thresholds!r}")
    with np.errstate(invalid="ignore"):
        masked = np.where(s <= limit, s, np.inf)  # NaN <= x is False: NaN never qualifies
    best = np.argmin(masked, axis=1)
    hit = np.isfinite(masked[np.arange(s.shape[0]), best])
    return np.where(hit, best + 1, 0).astype(np.uint8)
