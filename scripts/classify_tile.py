"""SAM or SID class map of one tile from its best-class/score raster and the thresholds."""
from aopflow.smk import run
from aopflow.stages.spectral import classify_scores

run(snakemake, classify_scores, snakemake.input[0], snakemake.output[0],
    thresholds=snakemake.params.thresholds, key=snakemake.params.key)
