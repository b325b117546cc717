"""Small multiples of every date's Sentinel-2 NDVI."""
from aopflow.stages.sentinel2 import ndvi_figure
from aopflow.smk import run

run(snakemake, ndvi_figure, snakemake.input.summary, list(snakemake.input.ndvi), snakemake.output[0])
