# Shared set-up: config validation, the tile list, output path roots, memory functions, the
# start-up check and rule all's targets. A stage's own helpers live in rules/<stage>_common.smk.
#
# Adding a stage (species, brdf, indices, publish, ...): rules/<stage>.smk holds its rules (the
# linter flags rules and functions in one file) and includes rules/<stage>_common.smk: helpers
# and <stage>_targets() (what a plain run makes, [] when the stage is off), registered with
# STAGE_TARGETS.append(<stage>_targets). Then one include: line in the Snakefile; nothing here.
import functools
import os

from snakemake.utils import validate

from aopflow import startup
from aopflow.smk import JOB_ENVIRONMENT, tile_mem
from aopflow.neon import naming
from aopflow.neon.layers import canonical_layer, layer_product_name
from aopflow.neon.selection import select_subset
from aopflow.products import SPECIES_PRODUCTS, SPECTRAL_PRODUCTS, product
from aopflow.stages import demo as aop_demo
from aopflow.stages import tiles as aop_site
from aopflow.zonal import zonal_rasters

validate(config, "../config/schema.yaml")

# Every job inherits these (aopflow.smk.JOB_ENVIRONMENT says why); a user's own value wins.
for _name, _value in JOB_ENVIRONMENT.items():
    os.environ.setdefault(_name, _value)

OUT = f"{config['outdir']}/{config['site']}/{config['year']}"
LOGS = f"{OUT}/logs"
BENCH = f"{OUT}/benchmarks"
CONDA_ENV = "../envs/aopflow.yaml"

# Ancillary layers: output product name (wqi, aspect, ...) -> canonical layer name.
ANCILLARY = {
    layer_product_name(n): canonical_layer(n) for n in config["ancillary_layers"]
}
# A user's endmember library is an input of site_endmembers (an edit to the file reruns it).
ENDMEMBER_LIBRARY = aop_site.endmember_library(config["endmembers"]["library"])

if config["source"] == "demo":
    DEMO_SPEC = aop_demo.demo_spec(config["site"], config["year"], config["demo"])
    DEMO_NAMES = aop_demo.demo_tile_names(DEMO_SPEC)
elif config["source"] == "local":
    LOCAL_TILES = aop_site.local_tiles(config["local"]["h5_dir"])


wildcard_constraints:
    tile=naming.TILE_ID_PATTERN,


def site_tiles():
    """The tile ids processed for this site: the `tiles` subset of the source's tiles.

    With source neon the listing step applies the subset (so that its size guard counts what
    is downloaded) and the listing is the site (listed_files, download_common.smk)."""
    if config["source"] == "neon":
        return sorted(listed_files())
    offered = DEMO_NAMES if config["source"] == "demo" else LOCAL_TILES
    return select_subset(list(offered), config["tiles"])


def h5_path(tile):
    """Path of the reflectance .h5 file of one tile."""
    if config["source"] == "demo":
        return f"{OUT}/h5/{DEMO_NAMES[tile]}"
    if config["source"] == "local":
        return str(LOCAL_TILES[tile])
    return f"{OUT}/h5/{listed_files()[tile].name}"


def h5_of_tile(wildcards):
    return h5_path(wildcards.tile)


def site_h5_files(wildcards):
    return [h5_path(tile) for tile in site_tiles()]


def site_tile_ids(wildcards):
    return site_tiles()


def tile_products(product):
    """Per-tile GeoTIFFs of one product for every tile of the site."""
    return [f"{OUT}/tiles/{tile}/{product}.tif" for tile in site_tiles()]


@functools.cache
def aop_pixel_size():
    """(AOP pixel size in metres, where it comes from), or None (source local without tiles);
    for local tiles the first tile's metadata is read, once and only when asked."""
    local = config["source"] == "local"
    first = select_subset(list(LOCAL_TILES), config["tiles"])[:1] if local else []
    return startup.aop_pixel_size(config, LOCAL_TILES[first[0]] if first else None)


# Field plots (zonal.plots), read alike by the zonal, Sentinel-2 grid and time-series jobs.
PLOTS_OPTIONS = {
    k: config["zonal"][k]
    for k in ("id_column", "buffer_m", "plots_crs", "x_column", "y_column")
}


DEMO_PLOTS = f"{OUT}/h5/truth/plots.gpkg"  # zonal.plots: demo (made in demo.smk)


def zonal_plots_file(wildcards):
    plots = config["zonal"]["plots"]
    return DEMO_PLOTS if plots == "demo" else plots


# Zonal raster name -> path (none without plots); the start-up check reads them too.
ZONAL = (
    zonal_rasters(config["zonal"]["rasters"], f"{OUT}/mosaic")
    if config["zonal"]["plots"]
    else {}
)


def site_mosaics():
    """Names of the site mosaics the rules can make (spectral ones even with spectral: false,
    when zonal or downscale asks for them)."""
    names = {"rgb", *ANCILLARY, *SPECTRAL_PRODUCTS}
    names |= set(SPECIES_PRODUCTS) if config["species"]["source"] else set()
    names |= {f"index_{name}" for name in config["indices"]}
    if config["source"] == "neon" and config["neon"]["chm"]:
        names.add("chm")
    return names


# Mistakes in one key against another fail here, before any job runs.
startup.check_config(
    config,
    library=ENDMEMBER_LIBRARY[0] if ENDMEMBER_LIBRARY else None,
    mosaics=site_mosaics(),
    zonal_names=list(ZONAL),
    continuous_zonal=any(
        not product(name, config["zonal"]["categorical"]).categorical for name in ZONAL
    ),
    pixel_size=(
        aop_pixel_size()
        if config["downscale"]["products"] and config["downscale"]["resolutions"]
        else None
    ),
)


# Memory of per-tile jobs: aopflow.smk.TILE_MEM (the one source of mem_mb for them).
tile_mem_mb = tile_mem("bands")  # a few bands of one tile
tile_extract_mem_mb = tile_mem("bands_extract")  # the NDVI job with the band extracts
tile_cube_mem_mb = tile_mem("cube")  # streams a tile's cube


# The default target's inputs: each stage's <stage>_targets(), appended by its
# rules/<stage>_common.smk.
STAGE_TARGETS = []


def all_targets(wildcards):
    """The default target's inputs: the tile list and every stage's targets. An input
    function, because with source neon the tiles are known only once the listing checkpoint
    has run (and the Sentinel-2 dates once the search has)."""
    return [f"{OUT}/tiles.csv"] + [t for targets in STAGE_TARGETS for t in targets()]
