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
        id_column=config["zonal"]["id_column"],
        buffer_m=config["zonal"]["buffer_m"],
        plots_crs=config["zonal"]["plots_crs"],
        x_column=config["zonal"]["x_column"],
        y_column=config["zonal"]["y_column"],
        stats=config["zonal"]["stats"],
        percentiles=config["zonal"]["percentiles"],
        categorical=zonal_is_categorical,
        exact=config["zonal"]["exact"],
        zero_is_nodata=zonal_zero_is_nodata,
        figure_stat=config["zonal"]["figure_stat"],
    script:
        "../scripts/zonal.py"
