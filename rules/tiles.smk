# Stage tiles (module aopflow.stages.tiles): the site's tile list for sources demo and local.
# (source neon lists its tiles in download.smk; the demo tiles are made in demo.smk.)


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
