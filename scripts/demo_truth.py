"""Write the demo site's true endmember spectra."""
from aopflow.demo.aop import write_truth_endmembers
from aopflow.stages.demo import demo_spec
from aopflow.smk import run

p = snakemake.params
run(snakemake, write_truth_endmembers, demo_spec(p.site, p.year, p.spec), snakemake.output[0])
