"""aopflow.products: one table says which products are class maps."""

from __future__ import annotations

import math

from aopflow.products import CLASS_NODATA, MOSAIC_PRODUCTS, PRODUCTS, product


def test_class_maps_and_continuous_products():
    assert {n for n, p in PRODUCTS.items() if p.categorical} == {"wqi", "sam", "sid", "species"}
    for name in ("sam", "sid", "wqi", "species"):
        p = product(name)
        assert (p.overview_resampling, p.downscale_method) == ("nearest", "majority")
    for name in ("ndvi", "abundance", "rgb", "chm", "aspect", "species_probability"):
        p = product(name)
        assert (p.overview_resampling, p.downscale_method) == ("average", "mean")
    assert product("sam").nodata == CLASS_NODATA and product("wqi").nodata == 0
    assert product("species").nodata == CLASS_NODATA
    assert math.isnan(product("ndvi").nodata)
    assert "reflectance" not in MOSAIC_PRODUCTS and "wqi" in MOSAIC_PRODUCTS


def test_user_rasters_are_continuous_unless_declared():
    assert not product("landcover").categorical
    assert product("landcover", ["landcover"]).categorical
    assert product("landcover", ["landcover"]).downscale_method == "majority"
    assert product("landcover").nodata is None  # the file's own no-data
    assert product("slope", ["slope"]).categorical and not product("slope").categorical
    assert product("sam", []).categorical  # built-in class maps stay class maps
