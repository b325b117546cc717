"""Sentinel-2 NDVI statistics at every plot on every date (table, GeoPackage, figure)."""
from aopflow.smk import run
from aopflow.stages.s2_products import s2_timeseries

i, o, p = snakemake.input, snakemake.output, snakemake.params
run(snakemake, s2_timeseries, i.summary, list(i.ndvi), i.plots, csv_path=o.csv,
    gpkg_path=o.gpkg, png_path=o.figure, id_column=p.id_column, buffer_m=p.buffer_m,
    plots_crs=p.plots_crs, x_column=p.x_column, y_column=p.y_column, stats=p.stats,
    percentiles=p.percentiles, exact=p.exact, figure_stat=p.figure_stat)
