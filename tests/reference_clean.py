"""Reference of the per-tile chain's cleaning, for tests: the valid pixels of a raw block as
float32 reflectance.

The chain never materialises this (it scores digital numbers block by block,
:mod:`aopflow.spectral.dn_scores`); tests compare what it writes with the reference algorithms
(:func:`aopflow.spectral.sam`, :func:`~aopflow.spectral.sid`, the unmixing functions) run on
these pixels. Built from the package's own rule (:func:`aopflow.clean.valid_mask`) and scaling
(:func:`aopflow.clean.to_reflectance`), so a change to either shows in the tests.
"""

from __future__ import annotations

import numpy as np

from aopflow.clean import to_reflectance, valid_mask


def clean_pixels(raw: np.ndarray, nodata: float, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Raw integer block ``(..., bands)`` -> ``(float32 (N, bands) of the valid pixels, valid mask (...))``.

    A pixel is no data if any of its bands equals the file's no-data value. Only the valid
    pixels are converted (to float32, never float64) and scaled by ``1 / scale``.
    """
    block = raw if raw.ndim == 3 else raw.reshape(1, -1, raw.shape[-1])
    valid = valid_mask(block, nodata).reshape(raw.shape[:-1])
    dn = raw.reshape(-1, raw.shape[-1])[valid.ravel()]
    return to_reflectance(dn, scale), valid
