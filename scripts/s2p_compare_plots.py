"""Plot means of AOP NDVI vs Sentinel-2 NDVI on the compared date (table, labelled scatter)."""
from aopflow.smk import run
from aopflow.stages.s2_products import s2_compare_plots

i, o, p = snakemake.input, snakemake.output, snakemake.params
run(snakemake, s2_compare_plots, i.aop, i.timeseries, i.compare, i.plots, table_path=o.table,
    png_path=o.figure, id_column=p.id_column, buffer_m=p.buffer_m, plots_crs=p.plots_crs,
    x_column=p.x_column, y_column=p.y_column, exact=p.exact)
