"""Merge one product over the site's tiles into a Cloud-Optimized GeoTIFF."""
from aopflow.stages.mosaic import mosaic
from aopflow.smk import run

run(snakemake, mosaic, list(snakemake.input), snakemake.output[0],
    resampling=snakemake.params.resampling)
