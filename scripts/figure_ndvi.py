"""NDVI map of the site."""
from aopflow.stages.figures import continuous_figure
from aopflow.smk import run

run(snakemake, continuous_figure, snakemake.input[0], snakemake.output[0],
    title="NDVI", label="NDVI", cmap="RdYlGn", vmin=-0.2, vmax=1.0)
