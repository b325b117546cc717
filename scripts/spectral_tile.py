"""Per-tile spectral chain: read once, clean, unmix, SAM/SID scores against site endmembers."""
from aopflow.smk import run
from aopflow.stages.spectral import spectral_tile

o, p = snakemake.output, snakemake.params
run(snakemake, spectral_tile, snakemake.input.h5, snakemake.input.endmembers,
    tile_id=snakemake.wildcards.tile, abundance_path=o.abundance, sam_path=o.sam,
    sid_path=o.sid, clean=p.clean, unmix_method=p.unmix_method, threads=snakemake.threads,
    brdf=list(snakemake.input.brdf) or None)
