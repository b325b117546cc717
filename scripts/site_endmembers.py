"""Extract one endmember set for the whole site (or resample a user's library)."""
from aopflow.smk import run
from aopflow.stages.spectral import site_endmembers

library = snakemake.input.library  # [] or [path]: an input, so edits to the file rerun this
run(snakemake, site_endmembers, list(snakemake.input.samples), snakemake.output[0],
    library=library[0] if library else None, **snakemake.params.extraction,
    brdf=snakemake.input.brdf[0] if snakemake.input.brdf else None)
