"""One solar date: its items on the site grid -> reflectance.tif, ndvi.tif, summary.csv."""
from aopflow.stages.sentinel2 import process_date
from aopflow.smk import run

o, p = snakemake.output, snakemake.params
run(snakemake, process_date, snakemake.input.grid, p.date_items, snakemake.wildcards.date, o.reflectance, o.ndvi,
    o.summary, bands=p.bands, mask_classes=p.mask_classes, offset=p.offset,
    negative_share_max=p.negative_share_max, threads=snakemake.threads, max_connections=p.max_connections)
