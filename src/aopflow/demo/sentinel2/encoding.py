"""DN encoding of the demo scenes and the processing baseline of a date.

uint16 DN with nodata 0: ``DN = round((reflectance - offset) / 0.0001)``, clipped to
1..65535 on valid pixels, with ``offset = -0.1`` from processing baseline 04.00 on
(BOA_ADD_OFFSET, from 2022-01-25) and 0 before (:func:`boa_offset`). The baseline of a
scene follows its date unless :attr:`~aopflow.demo.sentinel2.spec.S2Scene.baseline` says
otherwise.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from aopflow.errors import ConfigError


SCALE = 0.0001
#: Processing baseline from which L2A carries BOA_ADD_OFFSET = -1000 (reflectance offset -0.1).
OFFSET_BASELINE = "04.00"
OFFSET_START = dt.date(2022, 1, 25)


def baseline_for_date(date: dt.date) -> str:
    """The processing baseline ESA used for L2A products of that sensing date (approximate)."""
    if date < OFFSET_START:
        return "03.01"
    if date < dt.date(2024, 1, 1):
        return "05.09"
    if date < dt.date(2024, 7, 23):
        return "05.10"
    return "05.11"


def boa_offset(baseline: str) -> float:
    """Reflectance offset of a processing baseline: -0.1 from 04.00 on, else 0."""
    try:
        major, minor = (int(p) for p in str(baseline).split("."))
    except ValueError as exc:
        raise ConfigError(
            f"Sentinel-2 processing baseline {baseline!r} is not of the form 'NN.NN' (e.g. '05.10')"
        ) from exc
    return -0.1 if (major, minor) >= (4, 0) else 0.0


def encode_dn(reflectance: np.ndarray, offset: float, valid: np.ndarray | None = None) -> np.ndarray:
    """uint16 DN of surface reflectance: ``round((reflectance - offset) / 0.0001)``.

    Valid pixels are clipped to 1..65535 (0 is nodata); pixels where ``valid`` is False get 0.
    """
    dn = np.clip(np.rint((np.asarray(reflectance, dtype=np.float64) - offset) / SCALE), 1, 65535)
    dn = dn.astype(np.uint16)
    if valid is not None:
        dn[~valid] = 0
    return dn


def decode_dn(dn: np.ndarray, offset: float, scale: float = SCALE) -> np.ndarray:
    """Reflectance float64 ``DN * scale + offset``, NaN where DN is 0 (nodata)."""
    dn = np.asarray(dn)
    out = dn.astype(np.float64) * scale + offset
    out[dn == 0] = np.nan
    return out
