"""Spectral algorithms (package; the submodules: checks, extract, unmixing, similarity, library, and
dn_scores, the per-tile chain's fused kernel over digital numbers): endmember extraction, linear
unmixing, spectral similarity.

Pixels are a 2-D array ``X`` of shape (N, B): N pixels, B bands, reflectance (0..~1.5, may
hold values > 1 and small negatives), float32. Endmembers ``E`` have shape (n, B). Every
function works on any block of pixels (e.g. 10^5 at a time) and never assumes it sees the
whole image; temporaries of shape (N, B) stay float32 and float64 work is done on blocks of
at most :data:`~aopflow.spectral.checks.BLOCK` pixels, so memory is O(block x B + N x n).

Endmember extraction (return ``(E, idx)``: E (n, B) float32 rows of ``X``, idx (n,) int64)

* :func:`atgp` - Automatic Target Generation Process (Ren & Chang 2003).
* :func:`nfindr` - N-FINDR (Winter 1999) on the (n-1)-dimensional PCA projection.
* :func:`ppi` - Pixel Purity Index (Boardman et al. 1995).

Abundances (``A`` (N, n) float32), all from the Gram matrix ``G = E E^T`` (n, n) and the
cross products ``b = X E^T`` (N, n), so the cost per pixel after the product is O(n^2..n^3),
independent of B:

* :func:`fcls` - fully constrained least squares (Heinz & Chang 2001): A >= 0, rows sum to 1.
* :func:`nnls` - non-negative least squares (Lawson & Hanson 1974).
* :func:`ucls` - unconstrained least squares.

Similarity (``(N, n)`` float32 scores, smaller = more similar) and classification:

* :func:`sam` - spectral angle mapper (Kruse et al. 1993), radians.
* :func:`sid` - spectral information divergence (Chang 2000).
* :func:`classify` - 1-based class map with 0 = unclassified.

The reference implementation these are tested against is pysptools 0.15.0
(``tests/test_spectral.py``); aopflow does not depend on it.
"""

from aopflow.spectral.extract import (  # noqa: F401
    ENDMEMBER_METHODS,
    atgp,
    extract_endmembers,
    nfindr,
    pca_reduce,
    ppi,
    simplex_volume,
)
from aopflow.spectral.unmixing import (  # noqa: F401
    UNMIX_FROM_GRAM,
    UNMIX_METHODS,
    fcls,
    fcls_from_gram,
    gram_products,
    nnls,
    nnls_from_gram,
    ucls,
    ucls_from_gram,
    unmix,
)
from aopflow.spectral.similarity import (  # noqa: F401
    CLASSIFIERS,
    SID_FLOOR,
    classify,
    sam,
    sid,
)
from aopflow.spectral.library import (  # noqa: F401
    read_endmember_csv,
    resample_spectra,
    write_endmember_csv,
)
