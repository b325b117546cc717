"""Merge the per-date summaries into date_summary.csv (dates.csv + valid_fraction + used)."""
from aopflow.stages.sentinel2 import summarise
from aopflow.smk import run

run(snakemake, summarise, snakemake.input.dates, list(snakemake.input.summaries), snakemake.output[0],
    min_valid_fraction=snakemake.params.min_valid_fraction)
