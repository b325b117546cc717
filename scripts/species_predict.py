"""Species class and probability of every pixel of one tile."""
from aopflow.smk import run
from aopflow.stages.species import species_predict

i, o = snakemake.input, snakemake.output
run(snakemake, species_predict, i.h5, i.model, species_path=o.species, probability_path=o.probability,
    tile_id=snakemake.wildcards.tile, min_probability=snakemake.params.min_probability,
    threads=snakemake.threads, brdf=list(snakemake.input.brdf) or None)
