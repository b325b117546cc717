"""Weather Quality stop-light map of the site."""
from aopflow.stages.figures import wqi_figure
from aopflow.smk import run

run(snakemake, wqi_figure, snakemake.input[0], snakemake.output[0])
