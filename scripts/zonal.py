"""Zonal statistics of one raster at the field plots, with a bar chart and histograms."""
from aopflow.smk import run
from aopflow.stages.zonal import zonal_for_raster

o, p = snakemake.output, snakemake.params
run(snakemake, zonal_for_raster, snakemake.input.raster, snakemake.input.plots,
    name=snakemake.wildcards.zname, gpkg_path=o.gpkg, csv_path=o.csv, bars_png=o.bars,
    hist_png=o.hist, arrays_path=o.arrays, id_column=p.id_column, buffer_m=p.buffer_m,
    plots_crs=p.plots_crs, x_column=p.x_column, y_column=p.y_column, stats=p.stats,
    percentiles=p.percentiles, categorical=p.categorical, exact=p.exact,
    zero_is_nodata=p.zero_is_nodata, figure_stat=p.figure_stat)
