# Helpers of rules/publish.smk (included by it): the publish stage's outputs, rule all's
# publish targets, and its inputs: every other stage's final products, so the catalog and the
# map are rebuilt when any product changes (and never make anything upstream run).
PUBLISH = config["publish"]
PUBLISH_CATALOG = f"{OUT}/stac/catalog.json"
PUBLISH_MAP = f"{OUT}/map.html"
# Where `make report` writes the HTML report (linked from the catalog and the map).
PUBLISH_REPORT = "report.html"


def publish_targets():
    """The catalog and the map, as switched on in config publish."""
    return [PUBLISH_CATALOG] * PUBLISH["stac"] + [PUBLISH_MAP] * PUBLISH["map"]


def published_products(wildcards):
    """Every other stage's final products (the default target's inputs but the publish
    outputs), the tables written beside the zonal GeoPackages and, with Sentinel-2 on, each
    searched date's rasters. aopflow.publish.layout picks what is published from their paths.
    """
    own = {PUBLISH_CATALOG, PUBLISH_MAP}
    products = [t for t in all_targets(wildcards) if t not in own]
    products += [t[: -len(".gpkg")] + ".csv" for t in products if t.endswith(".gpkg")]
    if S2["source"]:
        products += s2_date_files("ndvi.tif")(wildcards)
        products += s2_date_files("reflectance.tif")(wildcards)
    return sorted(set(products))


STAGE_TARGETS.append(publish_targets)
