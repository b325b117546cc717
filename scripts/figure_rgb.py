"""RGB mosaic with a percentile stretch."""
from aopflow.stages.figures import rgb_figure
from aopflow.smk import run

run(snakemake, rgb_figure, snakemake.input[0], snakemake.output[0],
    pct=snakemake.params.stretch_percent)
