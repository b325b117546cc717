"""The normalized difference of two reflectances: aopflow's one NDVI rule.

Every NDVI aopflow writes (the AOP per-tile NDVI and so its mosaic, the Sentinel-2 per-date NDVI
and so its composites and time series) comes from :func:`normalized_difference`, and the
AOP-vs-Sentinel-2 comparison refuses NDVI rasters that break the rule
(:func:`check_ndvi_range`). The rule (``docs/ndvi.md``)::

    ND(a, b) = (a - b) / (a + b)   where a >= 0 and b >= 0 and not a == b == 0
             = no data              elsewhere (either negative, both zero, or either not finite)

NDVI is ``ND(nir, red)`` (Rouse et al. 1974, "Monitoring vegetation systems in the Great Plains
with ERTS", NASA SP-351; Tucker 1979, Remote Sensing of Environment 8(2):127-150).

Why no data, not a clipped value
    Surface reflectance is non-negative. A negative value comes from sensor noise or
    atmospheric over-correction on a dark pixel (water, deep shadow; NEON tiles hold such
    pixels, and the AOP demo holds 26 in its NDVI mosaic), or from a wrong offset (a
    Sentinel-2 item whose offset metadata does not fit its DNs, see
    :mod:`aopflow.sentinel2.scaling`). With one band negative the denominator can be
    arbitrarily close to 0 or negative, so the ratio can take any value: red -0.005 and NIR
    0.002 give -2.33. Clipping it to -1 would report "a pure red reflector" for what is noise;
    such a pixel has no NDVI. Both zero is 0/0. One zero is a valid boundary value: red 0
    with NIR > 0 is exactly 1, NIR 0 with red > 0 exactly -1.

Why the result is in [-1, 1] without clipping
    For ``a, b >= 0``, ``|a - b| <= a + b``. Floating-point rounding is monotone, so the
    rounded difference and sum keep ``|fl(a - b)| <= fl(a + b)``, and the rounded quotient of
    two such numbers stays within [-1, 1]. The same monotonicity keeps a mean or a median of
    values in [-1, 1] (block means of the downscale stage and of the comparison, composites)
    in [-1, 1].

Only the signs matter, so the rule applies unchanged to scaled integers with no offset (NEON
reflectance DN = 10000 x reflectance: its scale factor cancels). Sentinel-2 DNs carry an
offset, so the Sentinel-2 stage converts them to reflectance first.
"""

from __future__ import annotations

import math

import numpy as np

from aopflow.errors import InputDataError

#: The closed range every valid NDVI value lies in.
NDVI_RANGE = (-1.0, 1.0)
#: The red and near-infrared wavelengths (nm) of the NDVI by default (config ``ndvi.red_nm``,
#: ``ndvi.nir_nm``): the AOP band nearest each is used, for the NDVI product and for the BRDF
#: correction's NDVI bins alike.
RED_NM = 660.0
NIR_NM = 860.0


def normalized_difference(a, b, *, nodata: float = math.nan) -> np.ndarray:
    """``(a - b) / (a + b)`` where both are non-negative and not both zero; ``nodata`` elsewhere.

    NDVI is ``normalized_difference(nir, red)``. See the module docstring for the rule and
    why it holds.

    Args:
        a, b: reflectance (or a scaled integer of it without offset, e.g. NEON DN) of two
            bands, arrays of one shape (any; broadcastable) or scalars, any real dtype. NaN,
            infinities and negative values are no data (a negative no-data value such as
            NEON's -9999 therefore needs no separate mask; a non-negative one does: mask it
            in the result).
        nodata: the value written where the rule gives no data (default NaN); it must be
            representable in float32 and should lie outside [-1, 1].

    Returns:
        float32 array of the broadcast shape, in [-1, 1] where valid, ``nodata`` elsewhere.
        Computed in the inputs' common floating type, at least float32 (float32 for float32
        and 8/16-bit integers, float64 for float64 and 32/64-bit integers), rounded once to
        float32. Intermediates are a few arrays of the input size in that type.
    """
    work = np.result_type(np.asarray(a).dtype, np.asarray(b).dtype, np.float32)
    a = np.asarray(a, dtype=work)
    b = np.asarray(b, dtype=work)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        s = a + b
        ok = (a >= 0) & (b >= 0) & (s > 0) & np.isfinite(s)  # NaN compares False
        out = np.where(ok, (a - b) / np.where(ok, s, 1), nodata)
    return out.astype(np.float32, copy=False)


def check_ndvi_range(values: np.ndarray, source: str) -> None:
    """Raise when an NDVI array holds a finite value outside [-1, 1].

    For readers of NDVI rasters (the AOP-vs-Sentinel-2 comparison): a raster made by an
    aopflow older than this rule (or by other software) can hold such values.

    Args:
        values: NDVI, any shape, float; NaN = no data.
        source: what the values are (a file name), for the message.

    Raises:
        InputDataError: naming ``source``, the count and the extreme values.
    """
    v = np.asarray(values)
    lo, hi = NDVI_RANGE
    with np.errstate(invalid="ignore"):
        bad = (v < lo) | (v > hi)
    n = int(np.count_nonzero(bad))
    if n:
        raise InputDataError(
            f"{source}: {n} NDVI value(s) outside [-1, 1] (from {float(v[bad].min()):.4g} to "
            f"{float(v[bad].max()):.4g}); NDVI is no data where red or NIR reflectance is "
            f"negative or both are zero (docs/ndvi.md). The raster was made before that rule "
            f"or by other software: delete it and rerun the workflow (snakemake --forcerun "
            f"ndvi_tile s2_date) so it is remade.")
