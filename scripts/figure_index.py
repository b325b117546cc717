"""Map of one spectral index of the site (colour limits: 2nd-98th percentile)."""
from aopflow.smk import run
from aopflow.stages.figures import continuous_figure

name = snakemake.wildcards.index
run(snakemake, continuous_figure, snakemake.input[0], snakemake.output[0],
    title=name, label=name, cmap="RdYlGn", percentiles=(2, 98))
