"""Generate the demo Sentinel-2 scenes (COGs), their ItemCollection and ground truth."""
from aopflow.stages.sentinel2 import demo_scenes
from aopflow.smk import run

p = snakemake.params
run(snakemake, demo_scenes, snakemake.output.collection, spec=p.spec, resolution=p.resolution,
    aop_demo=p.aop_demo, site=p.site, year=p.year)
