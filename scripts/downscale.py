"""Aggregate a site mosaic to a coarser resolution (block mean or majority, no-data aware)."""
from aopflow.stages.downscale import downscale_file
from aopflow.smk import run

run(snakemake, downscale_file, snakemake.input[0], snakemake.output[0],
    resolution_m=float(snakemake.wildcards.res), method=snakemake.params.method)
