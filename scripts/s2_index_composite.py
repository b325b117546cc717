"""Median composite of one index over the used Sentinel-2 dates."""
from aopflow.smk import run
from aopflow.stages.indices import s2_index_composite

run(snakemake, s2_index_composite, snakemake.input.summary, snakemake.input.index,
    snakemake.output[0], index=snakemake.wildcards.index)
