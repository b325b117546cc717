# Zonal statistics at field plots (whole plots, on the site mosaics or user rasters).
# Module: aopflow.stages.zonal. Helpers in zonal_common.smk.


include: "zonal_common.smk"


rule zonal:
    input:
        raster=zonal_raster,
        plots=zonal_plots_file,
    output:
        gpkg=f"{OUT}/zonal/{{zname}}.gpkg",
        csv=report(
            f"{OUT}/zonal/{{zname}}.csv",
            caption="../report/zonal_table.rst",
            category="Zonal statistics",
            labels={"raster": "{zname}", "item": "table"},
        ),
        arrays=f"{OUT}/zonal/{{zname}}_arrays.npz",
        bars=report(
            f"{OUT}/figures/zonal_{{zname}}_bars.png",
            caption="../report/zonal_bars.rst",
            category="Zonal statistics",
            labels={"raster": "{zname}", "item": "bar chart"},
        ),
        hist=report(
            f"{OUT}/figures/zonal_{{zname}}_hist.png",
            caption="../report/zonal_hist.rst",
            category="Zonal statistics",
            labels={"raster": "{zname}", "item": "histograms"},
        ),
    log:
        f"{LOGS}/zonal/{{zname}}.log",
    benchmark:
        f"{BENCH}/zonal/{{zname}}.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        **PLOTS_OPTIONS,
        **ZONAL_STATS_OPTIONS,
        categorical=zonal_is_categorical,
        zero_is_nodata=zonal_zero_is_nodata,
    script:
        "../scripts/zonal.py"
