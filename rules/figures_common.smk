# rule all's site figures (rules/figures.smk, which includes this file).
from aopflow.startup import THRESHOLD_KEYS


def figures_targets():
    """The RGB figure, the WQI map when the WQI is converted, and the spectral figures and
    mean abundance table with spectral: true."""
    names = ["rgb"] + (["wqi"] if "wqi" in ANCILLARY else [])
    targets = [f"{OUT}/figures/{name}.png" for name in names]
    if config["spectral"]:
        names = ["endmembers", "abundance", *THRESHOLD_KEYS, "ndvi"]
        targets += [f"{OUT}/figures/{name}.png" for name in names]
        targets.append(f"{OUT}/tables/mean_abundance.csv")
    return targets


STAGE_TARGETS.append(figures_targets)
