"""Fetch the site's vegetation structure tables (DP1.10098.001) and plot points from the NEON API."""
from aopflow.smk import run
from aopflow.species.neon_source import fetch_species_tables

o, p = snakemake.output, snakemake.params
run(snakemake, fetch_species_tables, p.site, mapping_path=o.mapping, individual_path=o.individual,
    points_path=o.points, years=p.years, aop_year=p.year, api_url=p.api_url,
    include_provisional=p.include_provisional, cache_dir=p.cache)
