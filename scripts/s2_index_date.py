"""One index of one Sentinel-2 date from the date's reflectance."""
from aopflow.smk import run
from aopflow.stages.indices import s2_index_date

p = snakemake.params
run(snakemake, s2_index_date, snakemake.input[0], snakemake.output[0],
    index=snakemake.wildcards.index, assets=p.assets, constants=p.constants)
