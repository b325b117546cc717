"""RGB composite (reflectance, float32) of one tile -> 3-band GeoTIFF."""
from aopflow.stages.convert import rgb_to_geotiff
from aopflow.smk import run

run(snakemake, rgb_to_geotiff, snakemake.input.h5, snakemake.output[0],
    wavelengths_nm=snakemake.params.wavelengths_nm, tile_id=snakemake.wildcards.tile,
    threads=snakemake.threads)
