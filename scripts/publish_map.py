"""The run's offline interactive site map (map.html)."""
from aopflow.smk import run
from aopflow.stages.publish import publish_map

p = snakemake.params
run(snakemake, publish_map, inputs=list(snakemake.input.products), html=snakemake.output.html,
    site=p.site, year=p.year, id_column=p.id_column, tiles_csv=snakemake.input.tiles,
    max_px=p.max_px, max_mb=p.max_mb, stretch_percent=p.stretch_percent,
    categorical=p.categorical, basemap=p.basemap, catalog=p.catalog, report=p.report)
