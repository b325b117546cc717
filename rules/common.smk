# Shared set-up: config validation, path helpers and the site's tile list.
import csv
from pathlib import Path

from snakemake.utils import validate

from aopflow.neon import canonical_layer, layer_product_name
from aopflow import site as aop_site

validate(config, "../config/schema.yaml")

OUT = f"{config['outdir']}/{config['site']}/{config['year']}"
LOGS = f"{OUT}/logs"
BENCH = f"{OUT}/benchmarks"
CONDA_ENV = "../envs/aopflow.yaml"

# Ancillary layers: output product name (wqi, aspect, ...) -> canonical layer name.
ANCILLARY = {
    layer_product_name(n): canonical_layer(n) for n in config["ancillary_layers"]
}
# How each mosaic's overviews are resampled: class maps by nearest, the rest by average.
CLASS_PRODUCTS = {"wqi", "sam", "sid"}
CLASSIFY_KEYS = {"sam": "sam_max_angle", "sid": "sid_max_divergence"}
SPECTRAL_PRODUCTS = ["abundance", "sam", "sid", "ndvi"] if config["spectral"] else []

if config["source"] == "demo":
    DEMO_SPEC = aop_site.demo_spec(config["site"], config["year"], config["demo"])
    DEMO_NAMES = aop_site.demo_tile_names(DEMO_SPEC)
elif config["source"] == "local":
    LOCAL_TILES = aop_site.local_tiles(config["local"]["h5_dir"])


wildcard_constraints:
    tile=r"\d{6}_\d{7}",
    classifier="sam|sid",
    layer="|".join(ANCILLARY) or "none",


def available_tiles():
    """Every tile id the source offers (before the `tiles` subset)."""
    if config["source"] == "demo":
        return list(DEMO_NAMES)
    if config["source"] == "local":
        return list(LOCAL_TILES)
    with open(checkpoints.neon_listing.get().output[0]) as fh:
        return [row["tile"] for row in csv.DictReader(fh)]


def site_tiles():
    """The tile ids processed for this site (the configured subset of the available tiles)."""
    return aop_site.select_tiles(available_tiles(), config["tiles"])


def h5_path(tile):
    """Path of the reflectance .h5 file of one tile."""
    if config["source"] == "demo":
        return f"{OUT}/h5/{DEMO_NAMES[tile]}"
    if config["source"] == "local":
        return str(LOCAL_TILES[tile])
    return f"{OUT}/h5/{neon_file_name(tile)}"


def h5_of_tile(wildcards):
    return h5_path(wildcards.tile)


def site_h5_files(wildcards):
    return [h5_path(tile) for tile in site_tiles()]


def site_tile_ids(wildcards):
    return site_tiles()


def tile_mem_mb(wildcards, input):
    """Memory for a job that holds a few bands of one tile: grows with the tile's file size."""
    return int(600 + 2 * input.size_mb)


def ancillary_layer_name(wildcards):
    return ANCILLARY[wildcards.layer]


def tile_cube_mem_mb(wildcards, input):
    """Memory for a job that streams a tile's cube: the raw integer cube of a band-chunked
    file may be held whole (about 2.5x the gzip-compressed file), plus outputs."""
    return int(800 + 2.5 * input.size_mb)


def site_samples(wildcards):
    return [f"{OUT}/tiles/{tile}/sample.npz" for tile in site_tiles()]


def classifier_threshold(wildcards):
    return config["classify"][CLASSIFY_KEYS[wildcards.classifier]]


def classifier_threshold_key(wildcards):
    return f"classify.{CLASSIFY_KEYS[wildcards.classifier]}"


def tile_products(product):
    """Per-tile GeoTIFFs of one product for every tile of the site."""
    return [f"{OUT}/tiles/{tile}/{product}.tif" for tile in site_tiles()]


def mosaic_inputs(wildcards):
    return tile_products(wildcards.product)


def mosaic_resampling(wildcards):
    return "nearest" if wildcards.product in CLASS_PRODUCTS else "average"


def all_targets():
    targets = [f"{OUT}/tiles.csv", f"{OUT}/mosaic/rgb.tif", f"{OUT}/figures/rgb.png"]
    targets += [f"{OUT}/mosaic/{name}.tif" for name in ANCILLARY]
    if "wqi" in ANCILLARY:
        targets.append(f"{OUT}/figures/wqi.png")
    targets += [f"{OUT}/mosaic/{name}.tif" for name in SPECTRAL_PRODUCTS]
    if config["spectral"]:
        targets += [
            f"{OUT}/endmembers.csv",
            f"{OUT}/figures/endmembers.png",
            f"{OUT}/figures/abundance.png",
            f"{OUT}/figures/sam.png",
            f"{OUT}/figures/sid.png",
            f"{OUT}/figures/ndvi.png",
            f"{OUT}/tables/mean_abundance.csv",
        ]
    return targets
