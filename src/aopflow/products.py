"""The product table: what kind of raster each site product is, read by every stage that cares.

A product is *categorical* (class codes: the WQI stop-light codes, SAM/SID class maps) or
*continuous* (reflectance, abundances, NDVI, heights...). The kind decides

* how mosaic overviews are resampled (``nearest`` for classes, ``average`` otherwise),
* how a mosaic is downscaled (block ``majority`` or block ``mean``),
* what zonal statistics report (class fractions and the majority, or the statistics asked for),

and :data:`PRODUCTS` also records each product's no-data value. Rasters the table does not know
(a user's GeoTIFF in ``zonal.rasters``) are continuous unless named in ``zonal.categorical``.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable

from aopflow.neon.layers import ANCILLARY_ALIASES, ANCILLARY_NODATA, WQI_NODATA, layer_product_name

#: Overview resampling and downscaling method per kind.
_RESAMPLING = {True: "nearest", False: "average"}
_DOWNSCALE = {True: "majority", False: "mean"}

#: No-data code of the class maps (SAM/SID, species; uint8; 0 = unclassified, 1..n classes).
CLASS_NODATA = 255

#: Colours of the class maps, shared by the figures and the site map: WQI code -> (colour,
#: label), and class ``k`` (1..n) of any other class map -> ``CLASS_COLORS[(k - 1) % 12]``
#: (ColorBrewer Dark2 then Paired; class 0, unclassified, is white).
WQI_COLORS = {1: ("#2ca02c", "< 10 % cloud cover"), 2: ("#ffd700", "10-50 % cloud cover"),
              3: ("#d62728", "> 50 % cloud cover")}
CLASS_COLORS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d",
                "#666666", "#1f78b4", "#b2df8a", "#fb9a99", "#cab2d6"]


@dataclasses.dataclass(frozen=True)
class Product:
    """One raster product: its name (``mosaic/{name}.tif``), kind and no-data value.

    ``nodata`` is ``None`` when it is whatever the source file says (ancillary layers that carry
    a ``Data_Ignore_Value``, user rasters).
    """

    name: str
    categorical: bool
    nodata: float | None

    @property
    def overview_resampling(self) -> str:
        """GDAL resampling of the mosaic's overviews: ``nearest`` or ``average``."""
        return _RESAMPLING[self.categorical]

    @property
    def downscale_method(self) -> str:
        """Block aggregation (:mod:`aopflow.aggregate`) when downscaled: ``majority`` or ``mean``."""
        return _DOWNSCALE[self.categorical]


def _ancillary_products() -> dict[str, Product]:
    out = {}
    for layer in ANCILLARY_ALIASES:
        name = layer_product_name(layer)
        # Only the WQI (codes 1, 2, 3 = <10 %, 10-50 %, >50 % cloud cover) is read as class
        # codes; the other layers (also the classified ones, e.g. Haze_Cloud_Water_Map) are
        # mosaicked and aggregated as values.
        wqi = name == "wqi"
        nodata = WQI_NODATA if wqi else ANCILLARY_NODATA.get(layer)
        out[name] = Product(name, categorical=wqi, nodata=nodata)
    return out


#: Every product the workflow makes, by name.
PRODUCTS: dict[str, Product] = {
    **_ancillary_products(),
    "rgb": Product("rgb", categorical=False, nodata=math.nan),
    "reflectance": Product("reflectance", categorical=False, nodata=math.nan),
    "abundance": Product("abundance", categorical=False, nodata=math.nan),
    "sam": Product("sam", categorical=True, nodata=CLASS_NODATA),
    "sid": Product("sid", categorical=True, nodata=CLASS_NODATA),
    "ndvi": Product("ndvi", categorical=False, nodata=math.nan),
    "chm": Product("chm", categorical=False, nodata=None),
    # Tree species (aopflow.stages.species): uint8 codes of species/classes.csv, 0 unclassified.
    "species": Product("species", categorical=True, nodata=CLASS_NODATA),
    "species_probability": Product("species_probability", categorical=False, nodata=math.nan),
}

#: Spectral indices (rules/indices.smk): ``index_{NAME}`` per tile and as site mosaic, one per
#: name of the ``indices`` list (a spyndex name or aopflow's own), continuous, NaN no data.
INDEX_PREFIX = "index_"
INDEX_PRODUCT_PATTERN = r"^index_[A-Za-z0-9]+$"


def index_product(name: str) -> str:
    """The product name of index ``name`` (``NDVI`` -> ``index_NDVI``)."""
    return f"{INDEX_PREFIX}{name}"


#: Per tile and mosaicked: AOP reflectance in the Sentinel-2 bands (nearest band and through
#: each sensor's SRF), made by the NDVI job's read for the AOP-vs-Sentinel-2 comparison.
#: (Not in PRODUCTS: no zonal or downscale use; the mosaic treats it as continuous.)
S2_BANDS_PRODUCT = "s2_bands"

#: Products of the spectral stage (per tile and mosaicked): abundances, SAM/SID classes, NDVI.
SPECTRAL_PRODUCTS = ("abundance", "sam", "sid", "ndvi")
#: The per-tile products (and site mosaics) of the species stage.
SPECIES_PRODUCTS = ("species", "species_probability")

#: Products that have a site mosaic (``mosaic/{name}.tif``): all but the reflectance cube.
MOSAIC_PRODUCTS = tuple(sorted(set(PRODUCTS) - {"reflectance"}))

#: The Sentinel-2 composites (``s2/composite/{name}.tif``, all dates and per period) -> no-data.
S2_COMPOSITES: dict[str, float | None] = {
    "ndvi_median": math.nan,
    "reflectance_median": math.nan,
    "valid_count": None,  # uint16 counts: 0 is a count, not no-data
}
#: Sentinel-2 products on the site grid that the downscale stage also takes by name: the
#: composites as ``s2_{name}`` (the per-date ``s2_ndvi_YYYY-MM-DD`` are continuous too).
S2_PRODUCTS: dict[str, Product] = {
    f"s2_{name}": Product(f"s2_{name}", categorical=False, nodata=nodata) for name, nodata in S2_COMPOSITES.items()
}
#: Pattern of every Sentinel-2 product name (the schema's ``downscale.products`` uses the same).
#: ``s2_index_{NAME}_median``: an index's median composite (``s2/composite/index_{NAME}_median.tif``).
S2_PRODUCT_PATTERN = (rf"^s2_({'|'.join(S2_COMPOSITES)}|ndvi_[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}"
                      r"|index_[A-Za-z0-9]+_median)$")


def product(name: str, categorical: Iterable[str] = ()) -> Product:
    """The product called ``name``; a raster the table does not know is continuous unless its
    name is in ``categorical`` (config key ``zonal.categorical``), with its file's no-data."""
    categorical = set(categorical)
    known = PRODUCTS.get(name) or S2_PRODUCTS.get(name)
    if known is None and (re.match(INDEX_PRODUCT_PATTERN, name) or name == S2_BANDS_PRODUCT
                          or re.match(r"^s2_index_[A-Za-z0-9]+_median$", name)):
        known = Product(name, categorical=False, nodata=math.nan)
    if known is None:
        return Product(name, categorical=name in categorical, nodata=None)
    if name in categorical and not known.categorical:
        return dataclasses.replace(known, categorical=True)
    return known
