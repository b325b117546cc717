"""SAM or SID class map with a legend of the endmembers."""
from aopflow.stages.figures import class_figure, class_labels_from_csv
from aopflow.smk import run

classifier = snakemake.wildcards.classifier.upper()
run(snakemake, class_figure, snakemake.input.classes, snakemake.output[0],
    title=f"{classifier} classes (site endmembers)",
    labels=class_labels_from_csv(snakemake.input.endmembers))
