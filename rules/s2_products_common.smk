# Helpers of rules/s2_products.smk (included by it): which products are made, the period
# composites' dates, rule all's Sentinel-2 product targets, and the raster each downscale
# product name stands for (downscale_source, used by rules/downscale.smk).
import re

from aopflow.sentinel2.composite import group_by_period as s2p_group_by_period

# A period label: a month (2024-05) or a meteorological season (2024-JJA).
S2P_PERIOD = r"\d{4}-(\d{2}|DJF|MAM|JJA|SON)"
# Plots for the time series: as the zonal stage reads them (demo plots need the demo source).
S2P_PLOTS = bool(config["zonal"]["plots"]) and not (
    config["zonal"]["plots"] == "demo" and config["source"] != "demo"
)
# The comparison needs the AOP NDVI mosaic (the spectral stage).
S2P_COMPARE = "ndvi" in SPECTRAL_PRODUCTS
S2P_ZONAL = {
    k: config["zonal"][k]
    for k in ("id_column", "buffer_m", "plots_crs", "x_column", "y_column")
}


def s2p_period_dates(wildcards):
    """The searched dates that fall in composite period ``wildcards.s2period``."""
    return s2p_group_by_period(s2_dates(), S2["composite"]["period"]).get(
        wildcards.s2period, []
    )


def s2p_period_files(name):
    def files(wildcards):
        return [f"{OUT}/s2/dates/{d}/{name}" for d in s2p_period_dates(wildcards)]

    return files


def s2p_periods():
    period = S2["composite"]["period"]
    if period == "all":
        return []
    return list(s2p_group_by_period(s2_dates(), period))


#: Downscale product names of the Sentinel-2 rasters -> their files.
S2P_DOWNSCALE = {
    "s2_ndvi_median": f"{OUT}/s2/composite/ndvi_median.tif",
    "s2_valid_count": f"{OUT}/s2/composite/valid_count.tif",
    "s2_reflectance_median": f"{OUT}/s2/composite/reflectance_median.tif",
}


def downscale_source(wildcards):
    """The raster aggregated by the downscale stage: a site mosaic by name, or a Sentinel-2
    product (s2_ndvi_median, s2_valid_count, s2_reflectance_median, s2_ndvi_YYYY-MM-DD).
    """
    product = wildcards.product
    if product in S2P_DOWNSCALE:
        if not S2["source"]:
            raise ValueError(
                f"downscale.products: {product} is a Sentinel-2 product, but the Sentinel-2 "
                "stage is off (sentinel2.source: null); set sentinel2.source or remove it."
            )
        return S2P_DOWNSCALE[product]
    m = re.fullmatch(r"s2_ndvi_(\d{4}-\d{2}-\d{2})", product)
    if m:
        # After the search checkpoint: the date must be one it found.
        dates = s2_dates() if S2["source"] else []
        if m.group(1) not in dates:
            raise ValueError(
                f"downscale.products: {product} names no Sentinel-2 date of this run "
                f"(sentinel2.source: {S2['source']}; dates: {', '.join(dates) or 'none'}); "
                "use s2_ndvi_YYYY-MM-DD with one of them."
            )
        return f"{OUT}/s2/dates/{m.group(1)}/ndvi.tif"
    return f"{OUT}/mosaic/{product}.tif"


def s2_product_targets():
    """Targets of the Sentinel-2 products for the default target (after the search checkpoint)."""
    if not S2["source"]:
        return []
    targets = [
        f"{OUT}/s2/composite/{name}.tif"
        for name in ("ndvi_median", "reflectance_median", "valid_count")
    ]
    targets.append(f"{OUT}/figures/s2_composite.png")
    for label in s2p_periods():
        targets += [
            f"{OUT}/s2/composite/{label}/{name}.tif"
            for name in ("ndvi_median", "reflectance_median", "valid_count")
        ]
    if S2P_PLOTS:
        targets += [
            f"{OUT}/zonal/s2_ndvi_timeseries.csv",
            f"{OUT}/zonal/s2_ndvi_timeseries.gpkg",
            f"{OUT}/figures/s2_ndvi_timeseries.png",
        ]
    if S2P_COMPARE:
        targets += [f"{OUT}/tables/aop_vs_s2.csv", f"{OUT}/figures/s2_aop_vs_s2.png"]
        if S2P_PLOTS:
            targets += [
                f"{OUT}/tables/aop_vs_s2_plots.csv",
                f"{OUT}/figures/s2_aop_vs_s2_plots.png",
            ]
    return targets
