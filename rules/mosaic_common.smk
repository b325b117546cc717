# Helpers of rules/mosaic.smk (included by it): each mosaic's inputs and overview resampling
# (from the product table), and rule all's mosaics.
from aopflow.products import SPECTRAL_PRODUCTS, product


def chm_files(wildcards):
    listing = listed_files("chm")
    return [f"{OUT}/chm/{listing[t].name}" for t in site_tiles() if t in listing]


def mosaic_inputs(wildcards):
    if wildcards.product == "chm":
        return chm_files(wildcards)
    return tile_products(wildcards.product)


def mosaic_resampling(wildcards):
    return product(wildcards.product).overview_resampling


def mosaic_targets():
    """The RGB and ancillary mosaics; the spectral ones with spectral: true; the canopy
    height with source neon and neon.chm."""
    names = ["rgb", *ANCILLARY]
    if config["spectral"]:
        names += SPECTRAL_PRODUCTS
    if config["source"] == "neon" and config["neon"]["chm"]:
        names.append("chm")
    return [f"{OUT}/mosaic/{name}.tif" for name in names]


STAGE_TARGETS.append(mosaic_targets)
