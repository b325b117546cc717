"""Sample valid, cleaned pixels of one tile for the site-wide endmember extraction."""
from aopflow.smk import run
from aopflow.stages.spectral import sample_tile

p = snakemake.params
run(snakemake, sample_tile, snakemake.input.h5, snakemake.output[0],
    tile_id=snakemake.wildcards.tile, clean=p.clean, threads=snakemake.threads,
    brdf_terms_path=getattr(snakemake.output, "brdf_terms", None), **p.sampling)
