# Helpers of rules/indices.smk (included by it): the configured indices (checked against the
# catalogue at start-up), which of them Sentinel-2's bands allow, the per-index constants and
# rule all's index targets.
from snakemake.logging import logger

from aopflow.indices import check_indices, s2_computable
from aopflow.products import index_product

INDICES = list(config["indices"])
_INDEX_SPECS = check_indices(INDICES, config["index_constants"])
# Sentinel-2: the indices whose bands sentinel2.bands reads, and why the others are not made.
if S2["source"]:
    S2_INDICES, S2_INDICES_NOT = s2_computable(_INDEX_SPECS, S2["bands"])
    S2_INDICES = list(S2_INDICES)
    for _name, _why in S2_INDICES_NOT.items():
        logger.warning(f"Sentinel-2 index {_name} not computed: {_why}.")
else:
    S2_INDICES, S2_INDICES_NOT = [], {}


def _names_pattern(names):
    # A pattern that matches nothing when there are no names.
    return "|".join(names) if names else "(?!)"


def index_constants(wildcards):
    """The index's entry of index_constants (params: an edit reruns that index only)."""
    return dict(config["index_constants"].get(wildcards.index, {}))


def s2_index_files(wildcards):
    return [s2_date_file(d, f"index_{wildcards.index}.tif") for d in s2_dates()]


def s2_index_period_files(wildcards):
    """The index's per-date rasters of the dates in composite period ``s2period``."""
    return [
        s2_date_file(d, f"index_{wildcards.index}.tif")
        for d in s2p_period_dates(wildcards)
    ]


def indices_targets():
    """Every index's site mosaic and, with Sentinel-2, its median composites (all dates and
    per sentinel2.composite.period)."""
    targets = [f"{OUT}/mosaic/{index_product(name)}.tif" for name in INDICES]
    for name in S2_INDICES:
        targets.append(f"{OUT}/s2/composite/index_{name}_median.tif")
        targets += [
            f"{OUT}/s2/composite/{label}/index_{name}_median.tif"
            for label in s2p_periods()
        ]
    return targets


STAGE_TARGETS.append(indices_targets)
