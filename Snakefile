"""aopflow: NEON AOP hyperspectral tiles -> site-wide analysis-ready products.

Usage: snakemake --cores 2 [--configfile my.yaml]   (see README.md)
"""

from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


# One include per stage, in pipeline order; each registers its targets for rule all (how to add
# a stage: the top of rules/common.smk).
include: "rules/common.smk"
include: "rules/demo.smk"
include: "rules/tiles.smk"
include: "rules/download.smk"
include: "rules/brdf.smk"
include: "rules/convert.smk"
include: "rules/spectral.smk"
include: "rules/mosaic.smk"
include: "rules/figures.smk"
include: "rules/zonal.smk"
include: "rules/sentinel2.smk"
include: "rules/s2_products.smk"
include: "rules/indices.smk"
include: "rules/downscale.smk"
include: "rules/species.smk"
include: "rules/publish.smk"


rule all:
    default_target: True
    input:
        all_targets,
