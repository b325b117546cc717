"""Mean (and percentiles of) each endmember's abundance over the site."""
from aopflow.stages.figures import mean_abundance_table
from aopflow.smk import run

run(snakemake, mean_abundance_table, snakemake.input[0], snakemake.output.csv,
    snakemake.output.png)
