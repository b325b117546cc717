"""NDVI of one tile from the bands nearest the configured red and NIR wavelengths, and in the
same read the band extracts of the indices and of the Sentinel-2 comparison (when asked)."""
from aopflow.smk import run
from aopflow.stages.spectral import ndvi_tile

p = snakemake.params
out = snakemake.output
run(snakemake, ndvi_tile, snakemake.input.h5, out.ndvi,
    tile_id=snakemake.wildcards.tile, red_nm=p.red_nm, nir_nm=p.nir_nm, threads=snakemake.threads,
    index_bands_path=out.get("symbols"), s2_bands_path=out.get("s2_bands"),
    s2_assets=p.get("s2_assets", ()), clean=p.get("clean"),
    brdf=list(snakemake.input.brdf) or None)
