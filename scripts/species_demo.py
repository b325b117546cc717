"""Write the demo site's NEON-format vegetation structure tables, plot points and species truth."""
from pathlib import Path

from aopflow.smk import run
from aopflow.stages.demo import species_demo

o, p = snakemake.output, snakemake.params
run(snakemake, species_demo, p.site, p.year, p.spec, out_dir=Path(o.mapping).parent, truth=p.truth)
