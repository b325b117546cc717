"""Plot the site endmember spectra."""
from aopflow.stages.figures import endmember_figure
from aopflow.smk import run

run(snakemake, endmember_figure, snakemake.input[0], snakemake.output[0])
