# Publishing: a STAC catalog of every product and an offline interactive site map.
# Module: aopflow.stages.publish (work in aopflow.publish).


include: "publish_common.smk"


rule publish_catalog:
    input:
        products=published_products,
    output:
        catalog=report(
            PUBLISH_CATALOG,
            caption="../report/publish_catalog.rst",
            category="Publish",
        ),
    log:
        f"{LOGS}/publish/catalog.log",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        site=config["site"],
        year=config["year"],
        run_config=config,
        report=PUBLISH_REPORT,
        categorical=config["zonal"]["categorical"],
    script:
        "../scripts/publish_catalog.py"


rule publish_map:
    input:
        products=published_products,
        tiles=f"{OUT}/tiles.csv",
    output:
        html=report(
            PUBLISH_MAP,
            caption="../report/publish_map.rst",
            category="Publish",
        ),
    log:
        f"{LOGS}/publish/map.log",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        site=config["site"],
        year=config["year"],
        id_column=config["zonal"]["id_column"],
        max_px=PUBLISH["map_max_px"],
        max_mb=PUBLISH["map_max_mb"],
        stretch_percent=config["rgb"]["stretch_percent"],
        categorical=config["zonal"]["categorical"],
        basemap=PUBLISH["basemap"],
        catalog=PUBLISH_CATALOG,
        report=PUBLISH_REPORT,
    script:
        "../scripts/publish_map.py"
