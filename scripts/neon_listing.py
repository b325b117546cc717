"""List a site's NEON tiles (no download) and apply the size guard -> tiles.csv."""
from aopflow.stages.download import neon_listing
from aopflow.smk import run

p = snakemake.params
run(snakemake, neon_listing, snakemake.output[0], api_url=p.api_url, product=p.product,
    site=p.site, year=p.year, tiles=p.tiles, include_provisional=p.include_provisional,
    max_download_gb=p.max_download_gb, subset=p.subset)
