"""Download one listed NEON tile: checked size and CRC32C, retries, resume, atomic rename."""
from aopflow.stages.download import download_listed_tile
from aopflow.smk import run

p = snakemake.params
run(snakemake, download_listed_tile, p.listing, p.tile, snakemake.output[0],
    api_url=p.api_url, product=p.product, site=p.site)
