"""The run's STAC catalog of every product (stac/catalog.json)."""
from aopflow.smk import run
from aopflow.stages.publish import publish_catalog

p = snakemake.params
run(snakemake, publish_catalog, inputs=list(snakemake.input.products),
    catalog=snakemake.output.catalog, site=p.site, year=p.year, config=p.run_config,
    report=p.report, categorical=p.categorical)
