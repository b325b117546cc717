"""Cross-validate the species classifier (plot-grouped and random split), fit it on all pixels."""
from aopflow.smk import run
from aopflow.stages.species import species_model

i, o = snakemake.input, snakemake.output
run(snakemake, species_model, list(i.training), i.stems, model_path=o.model, metrics_csv=o.metrics,
    confusion_csv=o.confusion, classes_csv=o.classes, species=snakemake.params.species,
    threads=snakemake.threads)
