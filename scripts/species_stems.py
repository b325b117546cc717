"""Choose and locate the stems of the vegetation structure tables -> stems.csv / stems.gpkg."""
from aopflow.smk import run
from aopflow.stages.species import species_stems

i, o, p = snakemake.input, snakemake.output, snakemake.params
run(snakemake, species_stems, i.mapping, i.individual, i.points, list(i.h5), stems_csv=o.csv,
    stems_gpkg=o.gpkg, species=p.species, aop_year=p.aop_year)
