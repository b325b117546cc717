# Helpers of rules/downscale.smk (included by it): the raster each downscale product name
# stands for (a site mosaic or a Sentinel-2 product), its aggregation method, and rule all's
# downscaled rasters.
import re

from aopflow.products import product


wildcard_constraints:
    res=r"\d+",


def downscale_method(wildcards):
    return product(wildcards.product).downscale_method


def downscale_source(wildcards):
    """The raster aggregated by the downscale stage: a site mosaic by name, or a Sentinel-2
    product (a composite ``s2_{name}`` or a date's ``s2_ndvi_YYYY-MM-DD``). The start-up check
    has made sure that Sentinel-2 names come with the Sentinel-2 stage."""
    name = wildcards.product
    composites = {f"s2_{n}": path for n, path in s2_composites().items()}
    if name in composites:
        return composites[name]
    m = re.fullmatch(r"s2_index_(\w+)_median", name)
    if m:
        if m.group(1) not in S2_INDICES:
            why = S2_INDICES_NOT.get(m.group(1), "it is not in indices")
            raise ValueError(
                f"downscale.products: {name}: no Sentinel-2 composite of {m.group(1)} ({why})."
            )
        return f"{OUT}/s2/composite/index_{m.group(1)}_median.tif"
    m = re.fullmatch(r"s2_ndvi_(\d{4}-\d{2}-\d{2})", name)
    if m:
        # After the search checkpoint: the date must be one it found.
        dates = s2_dates()
        if m.group(1) not in dates:
            raise ValueError(
                f"downscale.products: {name} names no Sentinel-2 date of this run "
                f"(dates: {', '.join(dates) or 'none'}); use s2_ndvi_YYYY-MM-DD with one "
                "of them."
            )
        return s2_date_file(m.group(1), "ndvi.tif")
    return f"{OUT}/mosaic/{name}.tif"


def downscale_targets():
    return [
        f"{OUT}/downscale/{name}_{res}m.tif"
        for name in config["downscale"]["products"]
        for res in config["downscale"]["resolutions"]
    ]


STAGE_TARGETS.append(downscale_targets)
