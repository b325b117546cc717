"""Figure: per-taxon F1 of the plot-grouped and the random pixel split."""
from aopflow.smk import run
from aopflow.stages.species import f1_figure

run(snakemake, f1_figure, snakemake.input[0], snakemake.output[0])
