"""One index of one tile from the tile's band extract."""
from aopflow.smk import run
from aopflow.stages.indices import index_tile

run(snakemake, index_tile, snakemake.input[0], snakemake.output[0],
    index=snakemake.wildcards.index, constants=snakemake.params.constants)
