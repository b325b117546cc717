"""AOP NDVI (block mean on the Sentinel-2 grid) vs Sentinel-2 NDVI of the compared date."""
from aopflow.smk import run
from aopflow.stages.s2_products import s2_compare

i, o, p = snakemake.input, snakemake.output, snakemake.params
run(snakemake, s2_compare, i.aop, i.summary, list(i.ndvi), list(i.h5), table_path=o.table,
    hexbin_png=o.figure, compare_date=p.compare_date, min_aop_fraction=p.min_aop_fraction)
