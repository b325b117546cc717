"""One ancillary layer of one tile -> single-band GeoTIFF."""
from aopflow.stages.convert import ancillary_to_geotiff
from aopflow.smk import run

run(snakemake, ancillary_to_geotiff, snakemake.input.h5, snakemake.params.layer,
    snakemake.output[0], tile_id=snakemake.wildcards.tile)
