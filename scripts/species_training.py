"""Cleaned reflectance of the used crowns' pixels in one tile (read once)."""
from aopflow.smk import run
from aopflow.stages.species import species_training

i, p = snakemake.input, snakemake.params
run(snakemake, species_training, i.h5, i.stems, snakemake.output[0], tile_id=snakemake.wildcards.tile,
    clean=p.clean, overlap=p.overlap, threads=snakemake.threads,
    brdf=list(snakemake.input.brdf) or None)
