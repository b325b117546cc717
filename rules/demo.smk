# Stage demo (module aopflow.stages.demo, scene generator aopflow.demo.aop): the generated
# NEON-format demo site, its ground-truth endmembers and abundances, and its field plots.


if config["source"] == "demo":

    rule demo_tile:
        output:
            h5=f"{OUT}/h5/{aop_demo.tile_file_name(DEMO_SPEC, '{tile}')}",
            truth=f"{OUT}/h5/truth/abundance_{{tile}}.tif",
        log:
            f"{LOGS}/demo_tile/{{tile}}.log",
        conda:
            CONDA_ENV
        threads: 1
        resources:
            mem_mb=800 + 8 * DEMO_SPEC.pixels**2 * DEMO_SPEC.bands // 2**20,
            runtime=20,
        params:
            spec=config["demo"],
            site=config["site"],
            year=config["year"],
            trees=config["species"]["source"] == "demo",  # crowns for the species stage
        script:
            "../scripts/demo_tile.py"

    rule demo_truth:
        output:
            f"{OUT}/h5/truth/endmembers.csv",
        log:
            f"{LOGS}/demo_truth.log",
        conda:
            CONDA_ENV
        threads: 1
        resources:
            mem_mb=500,
            runtime=5,
        params:
            spec=config["demo"],
            site=config["site"],
            year=config["year"],
        script:
            "../scripts/demo_truth.py"

    rule demo_plots:
        output:
            DEMO_PLOTS,
        log:
            f"{LOGS}/demo_plots.log",
        conda:
            CONDA_ENV
        threads: 1
        resources:
            mem_mb=500,
            runtime=5,
        params:
            spec=config["demo"],
            site=config["site"],
            year=config["year"],
        script:
            "../scripts/demo_plots.py"
