# Sentinel-2 products from the per-date rasters of rules/sentinel2.smk: median composites (all
# dates, and per month/season), the NDVI time series at the zonal plots, AOP vs Sentinel-2 on
# the site grid and at plots; and the names the downscale rule takes for them.
# Module: aopflow.stages.s2_products.
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
    """The raster the downscale rule aggregates: a site mosaic by name, or a Sentinel-2
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
    """Targets of the Sentinel-2 products for rule all (after the search checkpoint)."""
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


if S2["source"]:

    rule s2_composite:
        input:
            summary=f"{OUT}/s2/date_summary.csv",
            ndvi=s2_date_files("ndvi.tif"),
            reflectance=s2_date_files("reflectance.tif"),
        output:
            ndvi=f"{OUT}/s2/composite/ndvi_median.tif",
            reflectance=f"{OUT}/s2/composite/reflectance_median.tif",
            valid_count=f"{OUT}/s2/composite/valid_count.tif",
            figure=report(
                f"{OUT}/figures/s2_composite.png",
                caption="../report/s2p_composite.rst",
                category="Sentinel-2",
                labels={"product": "composite", "item": "map"},
            ),
        log:
            f"{LOGS}/s2_composite/all.log",
        benchmark:
            f"{BENCH}/s2_composite/all.tsv"
        conda:
            CONDA_ENV
        threads: 1
        resources:
            mem_mb=1000,
            runtime=30,
        params:
            period="all",
        script:
            "../scripts/s2p_composite.py"

    rule s2_composite_period:
        input:
            summary=f"{OUT}/s2/date_summary.csv",
            ndvi=s2p_period_files("ndvi.tif"),
            reflectance=s2p_period_files("reflectance.tif"),
        output:
            ndvi=f"{OUT}/s2/composite/{{s2period}}/ndvi_median.tif",
            reflectance=f"{OUT}/s2/composite/{{s2period}}/reflectance_median.tif",
            valid_count=f"{OUT}/s2/composite/{{s2period}}/valid_count.tif",
        log:
            f"{LOGS}/s2_composite/{{s2period}}.log",
        wildcard_constraints:
            s2period=S2P_PERIOD,
        conda:
            CONDA_ENV
        threads: 1
        resources:
            mem_mb=1000,
            runtime=30,
        params:
            period=S2["composite"]["period"],
        script:
            "../scripts/s2p_composite.py"

    if S2P_PLOTS:

        rule s2_timeseries:
            input:
                summary=f"{OUT}/s2/date_summary.csv",
                ndvi=s2_date_files("ndvi.tif"),
                plots=zonal_plots_file,
            output:
                csv=report(
                    f"{OUT}/zonal/s2_ndvi_timeseries.csv",
                    caption="../report/s2p_timeseries_table.rst",
                    category="Sentinel-2",
                    labels={"product": "NDVI time series", "item": "table"},
                ),
                gpkg=f"{OUT}/zonal/s2_ndvi_timeseries.gpkg",
                figure=report(
                    f"{OUT}/figures/s2_ndvi_timeseries.png",
                    caption="../report/s2p_timeseries.rst",
                    category="Sentinel-2",
                    labels={"product": "NDVI time series", "item": "figure"},
                ),
            log:
                f"{LOGS}/s2_timeseries.log",
            benchmark:
                f"{BENCH}/s2_timeseries.tsv"
            conda:
                CONDA_ENV
            threads: 1
            resources:
                mem_mb=1500,
                runtime=30,
            params:
                **S2P_ZONAL,
                stats=config["zonal"]["stats"],
                percentiles=config["zonal"]["percentiles"],
                exact=config["zonal"]["exact"],
                figure_stat=config["zonal"]["figure_stat"],
            script:
                "../scripts/s2p_timeseries.py"

    if S2P_COMPARE:

        rule s2_compare:
            input:
                aop=f"{OUT}/mosaic/ndvi.tif",
                summary=f"{OUT}/s2/date_summary.csv",
                ndvi=s2_date_files("ndvi.tif"),
                h5=site_h5_files,
            output:
                table=report(
                    f"{OUT}/tables/aop_vs_s2.csv",
                    caption="../report/s2p_compare_table.rst",
                    category="Sentinel-2",
                    labels={"product": "AOP vs Sentinel-2", "item": "table"},
                ),
                figure=report(
                    f"{OUT}/figures/s2_aop_vs_s2.png",
                    caption="../report/s2p_compare.rst",
                    category="Sentinel-2",
                    labels={"product": "AOP vs Sentinel-2", "item": "hexbin"},
                ),
            log:
                f"{LOGS}/s2_compare.log",
            conda:
                CONDA_ENV
            threads: 1
            resources:
                mem_mb=1500,
                runtime=30,
            params:
                compare_date=S2["compare_date"],
                min_aop_fraction=S2["compare_min_aop_fraction"],
            script:
                "../scripts/s2p_compare.py"

        if S2P_PLOTS:

            rule s2_compare_plots:
                input:
                    aop=f"{OUT}/mosaic/ndvi.tif",
                    timeseries=f"{OUT}/zonal/s2_ndvi_timeseries.csv",
                    compare=f"{OUT}/tables/aop_vs_s2.csv",
                    plots=zonal_plots_file,
                output:
                    table=report(
                        f"{OUT}/tables/aop_vs_s2_plots.csv",
                        caption="../report/s2p_compare_plots_table.rst",
                        category="Sentinel-2",
                        labels={
                            "product": "AOP vs Sentinel-2 at plots",
                            "item": "table",
                        },
                    ),
                    figure=report(
                        f"{OUT}/figures/s2_aop_vs_s2_plots.png",
                        caption="../report/s2p_compare_plots.rst",
                        category="Sentinel-2",
                        labels={
                            "product": "AOP vs Sentinel-2 at plots",
                            "item": "scatter",
                        },
                    ),
                log:
                    f"{LOGS}/s2_compare_plots.log",
                conda:
                    CONDA_ENV
                threads: 1
                resources:
                    mem_mb=1500,
                    runtime=30,
                params:
                    **S2P_ZONAL,
                    exact=config["zonal"]["exact"],
                script:
                    "../scripts/s2p_compare_plots.py"
