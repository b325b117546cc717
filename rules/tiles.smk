# Where tiles come from: a generated demo site, a local folder, or the NEON Data API.


if config["source"] == "demo":

    rule demo_tile:
        output:
            h5=f"{OUT}/h5/NEON_{DEMO_SPEC.domain}_{DEMO_SPEC.site}_DP3_{{tile}}_{'bidirectional_reflectance' if DEMO_SPEC.revision == '002' else 'reflectance'}.h5",
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


if config["source"] in ("demo", "local"):

    rule tile_listing:
        input:
            site_h5_files,
        output:
            f"{OUT}/tiles.csv",
        log:
            f"{LOGS}/tile_listing.log",
        conda:
            CONDA_ENV
        threads: 1
        resources:
            mem_mb=500,
            runtime=5,
        params:
            tiles=site_tile_ids,
            source=config["source"],
        script:
            "../scripts/tile_listing.py"
