# Stage download (module aopflow.stages.download), source: neon: list a site's tiles of each
# NEON product with the Data API, then one download job per tile. One rule per action over the
# product table NEON_PRODUCTS (common.smk): reflectance tiles -> h5/, canopy height -> chm/.
# Downloads run on the submitting host (compute nodes often have no internet) and are throttled
# by the global resource neon_api. Helpers in download_common.smk.


include: "download_common.smk"


if config["source"] == "neon":

    localrules:
        neon_listing,
        download_tile,

    checkpoint neon_listing:
        output:
            f"{OUT}/{{listing}}.csv",
        log:
            f"{LOGS}/neon_listing/{{listing}}.log",
        wildcard_constraints:
            listing="|".join(p["listing"] for p in NEON_PRODUCTS.values()),
        conda:
            CONDA_ENV
        threads: 1
        resources:
            mem_mb=500,
            runtime=10,
            neon_api=1,
        params:
            api_url=config["neon"]["api_url"],
            product=neon_product_of_listing,
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
            f"{OUT}/{{folder}}/{{fname}}",
        log:
            f"{LOGS}/download_tile/{{folder}}/{{fname}}.log",
        wildcard_constraints:
            folder="|".join(NEON_PRODUCTS),
            fname=NEON_FILE_NAME_PATTERN,
        retries: 1
        conda:
            CONDA_ENV
        threads: 1
        resources:
            mem_mb=500,
            runtime=neon_download_runtime,
            neon_api=1,
        params:
            listing=neon_listing_path,
            tile=tile_of_file,
            checksum=listed_checksum,
            api_url=config["neon"]["api_url"],
            product=neon_product_of_folder,
            site=config["site"],
        script:
            "../scripts/download_tile.py"
