"""AOP vs Sentinel-2 per band and per index, AOP through the SRF and the nearest band."""
from aopflow.smk import run
from aopflow.stages.s2_products import s2_compare_bands

i, o, p = snakemake.input, snakemake.output, snakemake.params
run(snakemake, s2_compare_bands, i.compare, i.aop_bands, i.summary, list(i.reflectance),
    table_path=o.table, png_path=o.figure, assets=p.assets, indices=p.indices,
    constants=p.constants, min_aop_fraction=p.min_aop_fraction)
