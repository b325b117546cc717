"""BRDF and topographic correction of NEON .001 (directional) reflectance (docs/brdf.md).

* :mod:`~aopflow.brdf.kernels`: Ross-thick and Li-sparse kernels (NEON's non-reciprocal form
  by default, the reciprocal MODIS form as an alternative);
* :mod:`~aopflow.brdf.topo`: SCS+C topographic correction;
* :mod:`~aopflow.brdf.fit`: the site-wide FlexBRDF fit (per flight day or site, per NDVI bin)
  from pixel samples;
* :mod:`~aopflow.brdf.model`: the fitted model and its ``coefficients.json``;
* :mod:`~aopflow.brdf.terms`: a tile's per-pixel terms (flight line, kernels, incidence) and
  the tile's terms file, written once by the sampling job;
* :mod:`~aopflow.brdf.apply`: the per-block correction of a tile's digital numbers as they are
  read (:meth:`aopflow.neon.reader.NeonTile.set_correction`) and of sampled spectra.
"""
