"""Field plots (points) for the demo site."""
from aopflow.demo.aop import write_demo_plots
from aopflow.stages.demo import demo_spec
from aopflow.smk import run

p = snakemake.params
run(snakemake, write_demo_plots, demo_spec(p.site, p.year, p.spec), snakemake.output[0])
