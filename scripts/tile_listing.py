"""Write the site's tile list (tile id, file, size, bounds) as CSV."""
from aopflow.stages.tiles import write_listing
from aopflow.smk import run

run(snakemake, write_listing, snakemake.params.tiles, list(snakemake.input), snakemake.output[0])
