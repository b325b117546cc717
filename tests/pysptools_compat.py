"""Make pysptools 0.15.0 usable as a test oracle on current NumPy (2.x) and SciPy (1.1x).

Used ONLY by tests and benchmarks; aopflow never imports pysptools at run time.

pysptools 0.15.0 imports fine but fails when its functions run:

* ``np.int`` / ``np.float`` (removed in NumPy 1.24) in ``eea.eea.ATGP`` and in
  ``classification.cls`` (``SAM_classifier``, ``SID_classifier``, ``_multiple_values_min``).
  Fix: the modules' global ``np`` is replaced by a proxy that forwards every attribute to
  numpy and adds ``int``/``float`` back as the builtins they used to alias. NumPy itself is
  not modified, so other code in the same process still sees the real NumPy 2 namespace.
* ``scipy.linalg._flinalg.sdet_c`` (removed in SciPy 1.11) in ``eea.nfindr.NFINDR``. It was a
  Fortran routine computing a single-precision determinant through LAPACK ``sgetrf``; the
  stub does the same (``scipy.linalg.lapack.sgetrf`` + product of the pivots' diagonal) and
  returns ``(det, info)`` like the original.
* ``eea.eea._PCA_transform`` needs scikit-learn, which is not installed. It is replaced (for
  ``NFINDR`` only) by an exact PCA: centre, eigendecomposition of the float64 covariance,
  project on the leading components. That is scikit-learn's ``PCA(n).fit_transform`` up to
  the sign of each component (scikit-learn's own ``covariance_eigh`` solver does the same);
  N-FINDR's simplex volumes and ATGP's projections are invariant to those signs.

The installed package files are not modified: only the globals of the imported pysptools
modules are rebound, once, when this module is imported.
"""

from __future__ import annotations

import types

import numpy as np
import pysptools.abundance_maps.amaps as _amaps
import pysptools.classification.cls as _cls
import pysptools.eea.eea as _eea
import pysptools.eea.nfindr as _nfindr
import scipy.linalg.lapack


class _NumpyWithOldAliases(types.ModuleType):
    """numpy, plus the aliases pysptools still uses (``np.int``, ``np.float``)."""

    int = int
    float = float

    def __getattr__(self, name: str):
        return getattr(np, name)


_np_proxy = _NumpyWithOldAliases("numpy")


def _sdet_c(a: np.ndarray) -> tuple[float, int]:
    """Stand-in for the removed ``scipy.linalg._flinalg.sdet_c``: float32 LU determinant."""
    lu, piv, info = scipy.linalg.lapack.sgetrf(a)
    det = float(np.prod(np.diagonal(lu)))
    if np.count_nonzero(piv != np.arange(piv.size)) % 2:
        det = -det
    return det, info


def exact_pca_transform(data: np.ndarray, n_components: int) -> np.ndarray:
    """scikit-learn ``PCA(n_components).fit_transform(data)`` up to component signs.

    ``data`` (N, B); returns (N, n_components) in ``data``'s float dtype (as scikit-learn).
    """
    x = np.asarray(data, dtype=np.float64)
    xc = x - x.mean(axis=0)
    cov = xc.T @ xc / max(x.shape[0] - 1, 1)
    _, vecs = np.linalg.eigh(cov)
    comps = vecs[:, ::-1][:, :n_components]
    dtype = data.dtype if np.issubdtype(data.dtype, np.floating) else np.float64
    return (xc @ comps).astype(dtype)


_eea.np = _np_proxy
_cls.np = _np_proxy
_nfindr.sp = types.SimpleNamespace(
    linalg=types.SimpleNamespace(_flinalg=types.SimpleNamespace(sdet_c=_sdet_c))
)
_nfindr.eea = types.SimpleNamespace(ATGP=_eea.ATGP, _PCA_transform=exact_pca_transform)


def ATGP(data: np.ndarray, q: int) -> tuple[np.ndarray, np.ndarray]:
    """pysptools ``eea.ATGP``: (endmembers (q, B) float32, indices (q,))."""
    return _eea.ATGP(data, q)


def NFINDR(data: np.ndarray, q: int, maxit: int | None = None):
    """pysptools ``eea.NFINDR`` with ``ATGP_init=True`` (on the PCA-reduced data).

    Returns ``(E (q, B), Et (q, q-1), idx (q,), iterations)`` as pysptools does.
    """
    return _nfindr.NFINDR(data, q, maxit=maxit, ATGP_init=True)


def FCLS(M: np.ndarray, U: np.ndarray) -> np.ndarray:
    """pysptools ``abundance_maps.amaps.FCLS`` (cvxopt QP per pixel): (N, q) float32."""
    return _amaps.FCLS(M, U)


def NNLS(M: np.ndarray, U: np.ndarray) -> np.ndarray:
    """pysptools ``abundance_maps.amaps.NNLS`` (scipy nnls per pixel): (N, q) float32."""
    return _amaps.NNLS(M, U)


def UCLS(M: np.ndarray, U: np.ndarray) -> np.ndarray:
    """pysptools ``abundance_maps.amaps.UCLS``: (N, q)."""
    return _amaps.UCLS(M, U)


def SAM(M: np.ndarray, E: np.ndarray, threshold=None):
    """pysptools ``classification.cls.SAM_classifier``: ``(class_map, angles)``.

    ``threshold`` None gives a 0-based argmin map; a float or a list gives 1-based classes
    with 0 = unclassified, the thresholds being *fractions of the score range* (see
    ``_single_value_min`` / ``_multiple_values_min`` in pysptools).
    """
    return _cls.SAM_classifier(M, E, threshold)


def SID(M: np.ndarray, E: np.ndarray, threshold=None):
    """pysptools ``classification.cls.SID_classifier``: ``(class_map, sid)`` (see ``SAM``)."""
    return _cls.SID_classifier(M, E, threshold)
