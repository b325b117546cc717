"""Figure: confusion matrix of the plot-grouped cross-validation."""
from aopflow.smk import run
from aopflow.stages.species import confusion_figure

run(snakemake, confusion_figure, snakemake.input[0], snakemake.output[0])
