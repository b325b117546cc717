"""Fit the site's BRDF and topographic correction from every tile's samples."""
from aopflow.smk import run
from aopflow.stages.brdf import brdf_fit

o, p = snakemake.output, snakemake.params
run(snakemake, brdf_fit, list(snakemake.input.samples), o.coefficients, o.figure,
    red_nm=p.red_nm, nir_nm=p.nir_nm, **p.fit)
