"""NDVI of one tile from the bands nearest the configured red and NIR wavelengths."""
from aopflow.smk import run
from aopflow.stages.spectral import ndvi_tile

p = snakemake.params
run(snakemake, ndvi_tile, snakemake.input.h5, snakemake.output[0],
    tile_id=snakemake.wildcards.tile, red_nm=p.red_nm, nir_nm=p.nir_nm, threads=snakemake.threads,
    brdf=snakemake.input.brdf[0] if snakemake.input.brdf else None)
