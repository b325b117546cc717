# rule all's site figures (rules/figures.smk, which includes this file).
from aopflow.startup import THRESHOLD_KEYS


def figures_targets():
    """The RGB figure, the WQI map when the WQI is converted, the spectral figures and
    mean abundance table with spectral: true, and a map per spectral index."""
    names = ["rgb"] + (["wqi"] if "wqi" in ANCILLARY else [])
    targets = [f"{OUT}/figures/{name}.png" for name in names]
    if config["spectral"]:
        names = ["endmembers", "abundance", *THRESHOLD_KEYS, "ndvi"]
        targets += [f"{OUT}/figures/{name}.png" for name in names]
        targets.append(f"{OUT}/tables/mean_abundance.csv")
    # A map per spectral index (rules/indices.smk makes the mosaics).
    targets += [f"{OUT}/figures/index_{name}.png" for name in config["indices"]]
    return targets


STAGE_TARGETS.append(figures_targets)
