"""Extract one endmember set for the whole site (or resample a user's library)."""
from aopflow.smk import run
from aopflow.spectral_tile import site_endmembers

p = snakemake.params
library = snakemake.input.library  # [] or [path]: an input, so edits to the file rerun this
if library:  # extraction settings are None then (see the rule)
    run(snakemake, site_endmembers, list(snakemake.input.samples), snakemake.output[0], library=library[0])
else:
    run(snakemake, site_endmembers, list(snakemake.input.samples), snakemake.output[0],
        method=p.method, n=p.n, seed=p.seed)
