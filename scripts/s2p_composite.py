"""Median composites (NDVI, reflectance) and valid-observation count of the used dates."""
from aopflow.smk import run
from aopflow.stages.s2_products import s2_composite

i, o = snakemake.input, snakemake.output
run(snakemake, s2_composite, i.summary, list(i.ndvi), list(i.reflectance), ndvi_out=o.ndvi_median,
    reflectance_out=o.reflectance_median, count_out=o.valid_count, figure_png=o.get("figure"),
    period=snakemake.params.period, label=snakemake.wildcards.get("s2period", "all"))
