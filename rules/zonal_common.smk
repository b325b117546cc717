# Helpers of rules/zonal.smk (included by it): each zonal raster's path and kind, and rule
# all's zonal tables and charts. The rasters (ZONAL) and the plots (zonal_plots_file,
# PLOTS_OPTIONS) are in common.smk: the start-up check and the Sentinel-2 stages read them too.
from aopflow.products import product
from aopflow.zonal import RASTER_NAME_PATTERN


wildcard_constraints:
    zname=RASTER_NAME_PATTERN,


# What the zonal tables hold; the Sentinel-2 NDVI time series at the plots holds the same.
ZONAL_STATS_OPTIONS = {
    k: config["zonal"][k] for k in ("stats", "percentiles", "exact", "figure_stat")
}


def zonal_raster(wildcards):
    return ZONAL[wildcards.zname]


def zonal_is_categorical(wildcards):
    return product(wildcards.zname, config["zonal"]["categorical"]).categorical


def zonal_zero_is_nodata(wildcards):
    return wildcards.zname in config["zonal"]["zero_is_nodata"]


def zonal_targets():
    """Each zonal raster's plot table (with its CSV and figures, outputs of the same job)."""
    return [
        path
        for name in ZONAL
        for path in (f"{OUT}/zonal/{name}.gpkg", f"{OUT}/figures/zonal_{name}_bars.png")
    ]


STAGE_TARGETS.append(zonal_targets)
