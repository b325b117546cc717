"""Generate Sentinel-2-like L2A scenes of the AOP demo site (``sentinel2.source: demo``).

The scenes show the same landscape as the AOP demo scene of :mod:`aopflow.demo.aop`, encoded
and catalogued like Earth Search v1 L2A items, together with the ground truth a correct load of
them must return. One concern per module:

=================  ==========================================================================
``spec``           what to generate: :class:`S2Scene` (one item), :class:`S2DemoSpec` (options,
                   the ``sentinel2.demo`` config section), :data:`DEFAULT_SCENES`
``bands``          band-averaged material spectra (Gaussian MSI response) and the phenology
``encoding``       reflectance <-> uint16 DN, the BOA offset of a processing baseline
``grid``           scene and site grids, MGRS tile names (incl. synthetic neighbouring zones)
``landscape``      material abundances at any site-CRS point (site + blended background)
``scene``          one scene: SCL classes, clouds and shadows, swath edge, DN bands, footprint
``items``          the STAC item and collection documents
``truth``          the ground truth on the site grid: sampled, written, reloaded
``write``          :func:`write_demo_scenes`: COGs, items, collection and truth of a demo
``serve``          helpers for tests and servers: hrefs rewritten to a URL, pgstac load files
=================  ==========================================================================

Import the public names from this package (``from aopflow.demo.sentinel2 import ...``).
"""

from aopflow.demo.sentinel2.bands import BAND_KEYS, BANDS, band_response, band_spectra, greenness, spectra_on
from aopflow.demo.sentinel2.encoding import (
    OFFSET_BASELINE,
    OFFSET_START,
    SCALE,
    baseline_for_date,
    boa_offset,
    decode_dn,
    encode_dn,
)
from aopflow.demo.sentinel2.grid import mgrs_tile
from aopflow.demo.sentinel2.items import collection_dict, demo_items
from aopflow.demo.sentinel2.scene import SCL_CLASSES
from aopflow.demo.sentinel2.serve import drop_raster_bands, rewrite_hrefs, write_served_items
from aopflow.demo.sentinel2.spec import COLLECTION, DEFAULT_SCENES, PRE04_SCENE, S2DemoSpec, S2Scene
from aopflow.demo.sentinel2.truth import DEFAULT_MASK_CLASSES, load_truth, mask_and_aggregate
from aopflow.demo.sentinel2.write import write_demo_scenes

__all__ = [
    "BANDS", "BAND_KEYS", "COLLECTION", "DEFAULT_MASK_CLASSES", "DEFAULT_SCENES", "OFFSET_BASELINE",
    "OFFSET_START", "PRE04_SCENE", "S2DemoSpec", "S2Scene", "SCALE", "SCL_CLASSES", "band_response",
    "band_spectra", "baseline_for_date", "boa_offset", "collection_dict", "decode_dn", "demo_items",
    "drop_raster_bands", "encode_dn", "greenness", "load_truth", "mask_and_aggregate", "mgrs_tile",
    "rewrite_hrefs", "spectra_on", "write_demo_scenes", "write_served_items",
]
