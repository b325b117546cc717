"""Generate one tile of the synthetic demo site (and its ground-truth abundances)."""
from pathlib import Path

from aopflow.demo.aop import write_tile
from aopflow.stages.demo import demo_spec
from aopflow.smk import run

p = snakemake.params
spec = demo_spec(p.site, p.year, p.spec, trees=p.trees)
run(snakemake, write_tile, spec, snakemake.wildcards.tile,
    out_dir=Path(snakemake.output.h5).parent, truth_dir=Path(snakemake.output.truth).parent)
