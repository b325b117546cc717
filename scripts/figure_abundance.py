"""One abundance map per endmember."""
from aopflow.stages.figures import abundance_figure
from aopflow.smk import run

run(snakemake, abundance_figure, snakemake.input[0], snakemake.output[0])
