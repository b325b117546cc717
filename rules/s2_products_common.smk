# Helpers of rules/s2_products.smk (included by it): the composites' files (names from the
# package's S2_COMPOSITES, also read by rules/downscale.smk), the period composites' dates and
# rule all's Sentinel-2 product targets.
from aopflow.products import S2_COMPOSITES
from aopflow.sentinel2.composite import PERIOD_LABEL_PATTERN
from aopflow.sentinel2.composite import group_by_period as s2p_group_by_period


def s2_composites(period=None):
    """Composite name (ndvi_median, ...) -> its file, over all dates or of one period label
    (or its wildcard ``{s2period}``)."""
    if period:
        return {
            name: f"{OUT}/s2/composite/{period}/{name}.tif" for name in S2_COMPOSITES
        }
    return {name: f"{OUT}/s2/composite/{name}.tif" for name in S2_COMPOSITES}


def s2p_period_dates(wildcards):
    """The searched dates that fall in composite period ``wildcards.s2period``."""
    return s2p_group_by_period(s2_dates(), S2["composite"]["period"]).get(
        wildcards.s2period, []
    )


def s2p_period_files(name):
    def files(wildcards):
        return [s2_date_file(d, name) for d in s2p_period_dates(wildcards)]

    return files


def s2p_periods():
    period = S2["composite"]["period"]
    if period == "all":
        return []
    return list(s2p_group_by_period(s2_dates(), period))


def s2_product_targets():
    """Targets of the Sentinel-2 products for the default target (after the search
    checkpoint): the composites, the NDVI time series at the plots (with zonal.plots) and the
    comparison with the AOP NDVI mosaic (with spectral: true), at plots too."""
    if not S2["source"]:
        return []
    targets = [*s2_composites().values(), f"{OUT}/figures/s2_composite.png"]
    for label in s2p_periods():
        targets += s2_composites(label).values()
    plots = bool(config["zonal"]["plots"])
    if plots:
        targets += [
            f"{OUT}/s2/ndvi_timeseries.csv",
            f"{OUT}/s2/ndvi_timeseries.gpkg",
            f"{OUT}/figures/s2_ndvi_timeseries.png",
        ]
    if config["spectral"]:
        targets += [f"{OUT}/tables/aop_vs_s2.csv", f"{OUT}/figures/s2_aop_vs_s2.png"]
        # Per band and index: AOP through the Sentinel-2 SRFs and through the nearest band.
        targets += [
            f"{OUT}/tables/aop_vs_s2_bands.csv",
            f"{OUT}/figures/s2_aop_vs_s2_bands.png",
        ]
    if config["spectral"] and plots:
        targets += [
            f"{OUT}/tables/aop_vs_s2_plots.csv",
            f"{OUT}/figures/s2_aop_vs_s2_plots.png",
        ]
    return targets


STAGE_TARGETS.append(s2_product_targets)
