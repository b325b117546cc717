"""Spectral indices (spyndex's catalogue plus a small own table), their band mapping for AOP
and Sentinel-2, and AOP spectra seen through Sentinel-2's spectral responses.

Modules: ``catalogue`` (names, formulas, constants, the no-data rule, :func:`compute_index`),
``bandmap`` (symbol -> AOP band, symbol -> Sentinel-2 asset), ``srf`` (band-equivalent
reflectance through the ESA SRFs that pyrsr ships). See ``docs/indices.md``.
"""

from aopflow.indices.bandmap import S2_ASSETS, aop_symbol_bands, s2_computable, symbol_centres
from aopflow.indices.catalogue import (
    INDEX_NAME_PATTERN,
    NEON_INDICES,
    OWN_INDICES,
    IndexSpec,
    band_symbols,
    catalogue_names,
    check_indices,
    compute_index,
    index_spec,
)

__all__ = [
    "INDEX_NAME_PATTERN", "NEON_INDICES", "OWN_INDICES", "S2_ASSETS", "IndexSpec",
    "aop_symbol_bands", "band_symbols", "catalogue_names", "check_indices", "compute_index",
    "index_spec", "s2_computable", "symbol_centres",
]
