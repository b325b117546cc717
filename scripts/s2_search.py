"""Search Sentinel-2 items over the site grid -> items.json and dates.csv (checkpoint)."""
from aopflow.stages.sentinel2 import search
from aopflow.smk import run

i, o, p = snakemake.input, snakemake.output, snakemake.params
run(snakemake, search, i.grid, o.item_collection, o.dates, source=p.source, api_url=p.api_url, collection=p.collection,
    datetime=p.datetime, max_cloud_cover=p.max_cloud_cover, max_items=p.max_items, bands=p.bands,
    static_items=i.get("demo_items"))
