# source: neon - list the site's tiles with the NEON Data API, then one download job per tile.
# Module: aopflow.stages.download.
# Downloads run on the submitting host (compute nodes often have no internet) and are throttled
# by the global resource neon_api.


if config["source"] == "neon":

    localrules:
        neon_listing,
        download_tile,
        chm_listing,
        download_chm,

    checkpoint neon_listing:
        output:
            f"{OUT}/tiles.csv",
        log:
            f"{LOGS}/neon_listing.log",
        conda:
            CONDA_ENV
        threads: 1
        resources:
            mem_mb=500,
            runtime=10,
            neon_api=1,
        params:
            api_url=config["neon"]["api_url"],
            product=config["neon"]["product"],
            site=config["site"],
            year=config["year"],
            tiles=config["neon"]["tiles"],
            subset=config["tiles"],
            include_provisional=config["neon"]["include_provisional"],
            max_download_gb=config["neon"]["max_download_gb"],
        script:
            "../scripts/neon_listing.py"

    rule download_tile:
        output:
            f"{OUT}/h5/{{h5name}}",
        log:
            f"{LOGS}/download_tile/{{h5name}}.log",
        retries: 1
        conda:
            CONDA_ENV
        threads: 1
        resources:
            mem_mb=500,
            runtime=120,
            neon_api=1,
        params:
            listing=f"{OUT}/tiles.csv",
            tile=tile_of_file,
            checksum=listed_checksum,
            api_url=config["neon"]["api_url"],
            product=config["neon"]["product"],
            site=config["site"],
        script:
            "../scripts/download_tile.py"

    checkpoint chm_listing:
        output:
            f"{OUT}/chm_tiles.csv",
        log:
            f"{LOGS}/chm_listing.log",
        conda:
            CONDA_ENV
        threads: 1
        resources:
            mem_mb=500,
            runtime=10,
            neon_api=1,
        params:
            api_url=config["neon"]["api_url"],
            product="DP3.30015.001",
            site=config["site"],
            year=config["year"],
            tiles=config["neon"]["tiles"],
            subset=config["tiles"],
            include_provisional=config["neon"]["include_provisional"],
            max_download_gb=config["neon"]["max_download_gb"],
        script:
            "../scripts/neon_listing.py"

    rule download_chm:
        output:
            f"{OUT}/chm/{{chmname}}",
        log:
            f"{LOGS}/download_chm/{{chmname}}.log",
        retries: 1
        conda:
            CONDA_ENV
        threads: 1
        resources:
            mem_mb=500,
            runtime=60,
            neon_api=1,
        params:
            listing=f"{OUT}/chm_tiles.csv",
            tile=tile_of_file,
            checksum=listed_chm_checksum,
            api_url=config["neon"]["api_url"],
            product="DP3.30015.001",
            site=config["site"],
        script:
            "../scripts/download_tile.py"
