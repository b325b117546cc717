# Sentinel-2 products from the per-date rasters of rules/sentinel2.smk: median composites (all
# dates, and per month/season), the NDVI time series at the zonal plots, AOP vs Sentinel-2 on
# the site grid and at plots. Helpers (and the composites' files) in s2_products_common.smk;
# which of these a plain run makes (the plot ones need zonal.plots, the comparison spectral:
# true) is s2_product_targets' choice there. Module: aopflow.stages.s2_products.


include: "s2_products_common.smk"


if S2["source"]:

    rule s2_composite:
        input:
            summary=f"{OUT}/s2/date_summary.csv",
            ndvi=s2_date_files("ndvi.tif"),
            reflectance=s2_date_files("reflectance.tif"),
        output:
            **s2_composites(),
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
            **s2_composites("{s2period}"),
        log:
            f"{LOGS}/s2_composite/{{s2period}}.log",
        wildcard_constraints:
            s2period=PERIOD_LABEL_PATTERN,
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

    rule s2_timeseries:
        input:
            summary=f"{OUT}/s2/date_summary.csv",
            ndvi=s2_date_files("ndvi.tif"),
            plots=zonal_plots_file,
        output:
            csv=report(
                f"{OUT}/s2/ndvi_timeseries.csv",
                caption="../report/s2p_timeseries_table.rst",
                category="Sentinel-2",
                labels={"product": "NDVI time series", "item": "table"},
            ),
            gpkg=f"{OUT}/s2/ndvi_timeseries.gpkg",
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
            **PLOTS_OPTIONS,
            **ZONAL_STATS_OPTIONS,
        script:
            "../scripts/s2p_timeseries.py"

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

    rule s2_compare_bands:
        input:
            compare=f"{OUT}/tables/aop_vs_s2.csv",
            aop_bands=f"{OUT}/mosaic/s2_bands.tif",
            summary=f"{OUT}/s2/date_summary.csv",
            reflectance=s2_date_files("reflectance.tif"),
        output:
            table=report(
                f"{OUT}/tables/aop_vs_s2_bands.csv",
                caption="../report/s2p_compare_bands_table.rst",
                category="Sentinel-2",
                labels={
                    "product": "AOP vs Sentinel-2 per band and index",
                    "item": "table",
                },
            ),
            figure=report(
                f"{OUT}/figures/s2_aop_vs_s2_bands.png",
                caption="../report/s2p_compare_bands.rst",
                category="Sentinel-2",
                labels={
                    "product": "AOP vs Sentinel-2 per band and index",
                    "item": "r2",
                },
            ),
        log:
            f"{LOGS}/s2_compare_bands.log",
        conda:
            CONDA_ENV
        threads: 1
        resources:
            mem_mb=1500,
            runtime=30,
        params:
            assets=S2["bands"],
            indices=config["indices"],
            constants=config["index_constants"],
            min_aop_fraction=S2["compare_min_aop_fraction"],
        script:
            "../scripts/s2p_compare_bands.py"

    rule s2_compare_plots:
        input:
            aop=f"{OUT}/mosaic/ndvi.tif",
            timeseries=f"{OUT}/s2/ndvi_timeseries.csv",
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
            **PLOTS_OPTIONS,
            exact=config["zonal"]["exact"],
        script:
            "../scripts/s2p_compare_plots.py"
