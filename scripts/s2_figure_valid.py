"""Bar chart of the valid fraction per Sentinel-2 date."""
from aopflow.stages.sentinel2 import valid_fraction_figure
from aopflow.smk import run

run(snakemake, valid_fraction_figure, snakemake.input[0], snakemake.output[0],
    min_valid_fraction=snakemake.params.min_valid_fraction)
