"""Cleaned reflectance of one tile -> multiband GeoTIFF (integers with GDAL scale)."""
from aopflow.stages.convert import reflectance_to_geotiff
from aopflow.smk import run

run(snakemake, reflectance_to_geotiff, snakemake.input.h5, snakemake.output[0],
    clean=snakemake.params.clean, tile_id=snakemake.wildcards.tile,
    threads=snakemake.threads, brdf=list(snakemake.input.brdf) or None)
