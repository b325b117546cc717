# Helpers of rules/convert.smk (included by it) and rule all's per-tile conversions.


wildcard_constraints:
    layer="|".join(ANCILLARY) or "none",


def ancillary_layer_name(wildcards):
    return ANCILLARY[wildcards.layer]


def convert_targets():
    """Per-tile GeoTIFFs: a plain run remakes one deleted by hand, not only when a mosaic is
    out of date."""
    products = ["rgb", *ANCILLARY]
    if config["reflectance_geotiff"]:
        products.append("reflectance")
    return [path for name in products for path in tile_products(name)]


STAGE_TARGETS.append(convert_targets)
