# Stage sentinel2 (module aopflow.stages.sentinel2; algorithms in aopflow.sentinel2): the site
# grid, a search checkpoint (STAC API or the demo ItemCollection) whose dates fan out to one job
# per solar date (reflectance, NDVI, valid fraction on the site grid), their merge and figures.
# The search and (with sentinel2.local_jobs) the per-date reads run on the submitting host
# (compute nodes often have no internet); the global resource s2_http caps concurrent jobs.
# Helpers in sentinel2_common.smk.


include: "sentinel2_common.smk"


if S2["source"]:

    localrules:
        s2_search,

    # Only sentinel2.source: demo asks for its output (s2_search_inputs).
    rule s2_demo:
        output:
            collection=f"{OUT}/s2/demo/items.json",
            scenes=directory(f"{OUT}/s2/demo/scenes"),
            truth=directory(f"{OUT}/s2/demo/truth"),
        log:
            f"{LOGS}/s2_demo.log",
        conda:
            CONDA_ENV
        threads: 1
        resources:
            mem_mb=2000,
            runtime=20,
        params:
            spec=S2["demo"],
            resolution=S2["resolution"],
            aop_demo=config["demo"],
            site=config["site"],
            year=config["year"],
        script:
            "../scripts/s2_demo.py"

    rule s2_grid:
        input:
            unpack(s2_grid_inputs),
        output:
            f"{OUT}/s2/grid.json",
        log:
            f"{LOGS}/s2_grid.log",
        conda:
            CONDA_ENV
        threads: 1
        resources:
            mem_mb=500,
            runtime=5,
        params:
            resolution=S2["resolution"],
            area=S2["area"],
            plots_buffer_m=S2["plots_buffer_m"],
            aop_pixel_size=S2_AOP_PIXEL_SIZE,
            plots_options=PLOTS_OPTIONS,
        script:
            "../scripts/s2_grid.py"

    checkpoint s2_search:
        input:
            unpack(s2_search_inputs),
        output:
            item_collection=f"{OUT}/s2/items.json",
            dates=f"{OUT}/s2/dates.csv",
        log:
            f"{LOGS}/s2_search.log",
        conda:
            CONDA_ENV
        threads: 1
        resources:
            mem_mb=800,
            runtime=15,
            s2_http=1,
        params:
            source=S2["source"],
            api_url=S2["api_url"],
            collection=S2["collection"],
            datetime=S2["datetime"],
            max_cloud_cover=S2["max_cloud_cover"],
            max_items=S2["max_items"],
            bands=S2["bands"],
        script:
            "../scripts/s2_search.py"

    rule s2_date:
        input:
            unpack(s2_date_inputs),
        output:
            reflectance=f"{OUT}/s2/dates/{{date}}/reflectance.tif",
            ndvi=f"{OUT}/s2/dates/{{date}}/ndvi.tif",
            summary=f"{OUT}/s2/dates/{{date}}/summary.csv",
        log:
            f"{LOGS}/s2_date/{{date}}.log",
        benchmark:
            f"{BENCH}/s2_date/{{date}}.tsv"
        retries: 1
        # sentinel2.local_jobs: on the submitting host, like the search.
        localrule: S2["local_jobs"]
        conda:
            CONDA_ENV
        threads: 2
        resources:
            mem_mb=s2_date_mem_mb,
            runtime=30,
            s2_http=1,
        params:
            date_items=s2_date_items,
            bands=S2["bands"],
            mask_classes=S2["mask_classes"],
            offset=S2["offset"],
            negative_share_max=S2["negative_share_max"],
            max_connections=S2["max_connections"],
        script:
            "../scripts/s2_date.py"

    rule s2_summary:
        input:
            dates=f"{OUT}/s2/dates.csv",
            summaries=s2_date_files("summary.csv"),
        output:
            f"{OUT}/s2/date_summary.csv",
        log:
            f"{LOGS}/s2_summary.log",
        conda:
            CONDA_ENV
        threads: 1
        resources:
            mem_mb=500,
            runtime=5,
        params:
            min_valid_fraction=S2["min_valid_fraction"],
        script:
            "../scripts/s2_summary.py"

    rule s2_figure_ndvi:
        input:
            summary=f"{OUT}/s2/date_summary.csv",
            ndvi=s2_date_files("ndvi.tif"),
        output:
            report(
                f"{OUT}/figures/s2_ndvi_dates.png",
                caption="../report/s2_ndvi_dates.rst",
                category="Sentinel-2",
            ),
        log:
            f"{LOGS}/figures/s2_ndvi_dates.log",
        conda:
            CONDA_ENV
        threads: 1
        resources:
            mem_mb=1500,
            runtime=10,
        script:
            "../scripts/s2_figure_ndvi.py"

    rule s2_figure_valid:
        input:
            f"{OUT}/s2/date_summary.csv",
        output:
            report(
                f"{OUT}/figures/s2_valid_fraction.png",
                caption="../report/s2_valid_fraction.rst",
                category="Sentinel-2",
            ),
        log:
            f"{LOGS}/figures/s2_valid_fraction.log",
        conda:
            CONDA_ENV
        threads: 1
        resources:
            mem_mb=800,
            runtime=5,
        params:
            min_valid_fraction=S2["min_valid_fraction"],
        script:
            "../scripts/s2_figure_valid.py"
