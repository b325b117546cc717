"""Applying the fitted species model to a tile's pixels, block by block."""

from __future__ import annotations

import numpy as np

from aopflow.clean import to_reflectance, valid_mask

#: Pixels per predict_proba call: bounds the float32 feature copy and the forest's work arrays.
PREDICT_CHUNK = 65536


def column_codes(model_classes, labels) -> np.ndarray:
    """Class code (1-based position in ``labels``) of each ``predict_proba`` column (scikit-learn
    orders the columns by ``model.classes_``, i.e. sorted labels)."""
    labels = list(labels)
    return np.array([labels.index(c) + 1 for c in model_classes], dtype=np.uint8)


def predict_block(model, raw: np.ndarray, nodata: float, scale: float, min_probability: float | None,
                  nodata_code: int, codes_of_columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class codes and probabilities of a raw block ``(rows, cols, bands)`` of the model's bands.

    Returns ``(codes (rows, cols) uint8, probability (rows, cols) float32)``: the code
    (``codes_of_columns``, see :func:`column_codes`) of the most probable class, 0 where its
    probability is below ``min_probability`` (unclassified), ``nodata_code`` and NaN where the
    pixel is no data.
    """
    rows, cols = raw.shape[:2]
    codes = np.full(rows * cols, nodata_code, dtype=np.uint8)
    prob = np.full(rows * cols, np.nan, dtype=np.float32)
    valid = valid_mask(raw, nodata).ravel()
    idx = np.flatnonzero(valid)
    for s in range(0, idx.size, PREDICT_CHUNK):
        sel = idx[s:s + PREDICT_CHUNK]
        r, c = np.divmod(sel, cols)
        x = to_reflectance(np.ascontiguousarray(raw[r, c]), scale)
        p = model.predict_proba(x)
        best = np.argmax(p, axis=1)
        pb = p[np.arange(best.size), best].astype(np.float32)
        code = codes_of_columns[best]
        if min_probability is not None:
            code[pb < min_probability] = 0
        codes[sel] = code
        prob[sel] = pb
    return codes.reshape(rows, cols), prob.reshape(rows, cols)
