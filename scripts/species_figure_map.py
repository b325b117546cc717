"""Figure: the species mosaic with a legend of scientific names."""
from aopflow.smk import run
from aopflow.stages.species import species_map_figure

run(snakemake, species_map_figure, snakemake.input.mosaic, snakemake.input.classes, snakemake.output[0])
