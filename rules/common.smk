# Shared set-up: config validation, path helpers and the site's tile list.
import functools
import os
import sys
from pathlib import Path

from snakemake.utils import validate

from aopflow import startup
from aopflow.smk import JOB_ENVIRONMENT
from aopflow.neon import naming
from aopflow.neon.listing import read_tile_listing
from aopflow.neon.layers import canonical_layer, layer_product_name
from aopflow.neon.reader import read_meta
from aopflow.neon.selection import select_subset
from aopflow.products import product
from aopflow.stages import demo as aop_demo
from aopflow.stages import tiles as aop_site

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
CLASSIFY_KEYS = {"sam": "sam_max_angle", "sid": "sid_max_divergence"}
SPECTRAL_PRODUCTS = ["abundance", "sam", "sid", "ndvi"] if config["spectral"] else []

if config["source"] == "demo":
    DEMO_SPEC = aop_demo.demo_spec(config["site"], config["year"], config["demo"])
    DEMO_NAMES = aop_demo.demo_tile_names(DEMO_SPEC)
elif config["source"] == "local":
    LOCAL_TILES = aop_site.local_tiles(config["local"]["h5_dir"])
# A user's endmember library is an input of site_endmembers (an edit to the file reruns it).
ENDMEMBER_LIBRARY = aop_site.endmember_library(config["endmembers"]["library"])
# What a library replaces: pixel sampling (only the first tile's band set is needed then) and
# extraction. As params they are fixed when a library is set, so editing them reruns nothing.
_em = config["endmembers"]
SAMPLING = (
    {"n_samples": 0, "n_candidates": 0, "seed": 0}
    if ENDMEMBER_LIBRARY
    else {
        "n_samples": _em["sample_size"],
        "n_candidates": _em["candidates"],
        "seed": _em["seed"],
    }
)
EXTRACTION = (
    {}
    if ENDMEMBER_LIBRARY
    else {"method": _em["method"], "n": _em["n"], "seed": _em["seed"]}
)


# source neon: the NEON products downloaded, by the folder their tiles go to.
NEON_PRODUCTS = {
    "h5": {"code": config["neon"]["product"], "listing": "tiles", "runtime": 120},
    "chm": {"code": naming.CHM, "listing": "chm_tiles", "runtime": 60},
}
NEON_FILE_NAME_PATTERN = f"{naming.REFLECTANCE_NAME_PATTERN}|{naming.CHM_NAME_PATTERN}"


wildcard_constraints:
    tile=naming.TILE_ID_PATTERN,
    classifier="sam|sid",
    res=r"\d+",
    zname=r"(?!s2_ndvi_timeseries\.)[A-Za-z0-9_.-]+",  # not the S2 time series (s2_products.smk)
    layer="|".join(ANCILLARY) or "none",
    date=r"\d{4}-\d{2}-\d{2}",


@functools.lru_cache(maxsize=8)
def _read_listing(path, mtime):
    return {t.tile: t for t in read_tile_listing(path)}


def listed_files(folder="h5"):
    """Tile id -> listed NEON file of a product (after its listing checkpoint has run)."""
    cp = checkpoints.neon_listing.get(listing=NEON_PRODUCTS[folder]["listing"])
    path = cp.output[0]
    return _read_listing(path, os.path.getmtime(path))


def neon_product_of_listing(wildcards):
    return next(
        p["code"] for p in NEON_PRODUCTS.values() if p["listing"] == wildcards.listing
    )


def neon_product_of_folder(wildcards):
    return NEON_PRODUCTS[wildcards.folder]["code"]


def neon_listing_path(wildcards):
    return f"{OUT}/{NEON_PRODUCTS[wildcards.folder]['listing']}.csv"


def neon_download_runtime(wildcards):
    return NEON_PRODUCTS[wildcards.folder]["runtime"]


def tile_of_file(wildcards):
    return naming.tile_id_from_name(wildcards.fname)


def listed_checksum(wildcards):
    """Size and CRC32C of the listed file: a republished tile (new checksum) is fetched again,
    while a fresh listing with new signed URLs alone changes nothing."""
    entry = listed_files(wildcards.folder)[tile_of_file(wildcards)]
    return f"{entry.size}:{entry.crc32c}"


def chm_files(wildcards):
    listing = listed_files("chm")
    return [f"{OUT}/chm/{listing[t].name}" for t in site_tiles() if t in listing]


def site_tiles():
    """The tile ids processed for this site: the `tiles` subset of the source's tiles.

    With source neon the listing step applies the subset (so that its size guard counts what
    is downloaded) and the listing is the site."""
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


def input_mb(input):
    """Total size of a job's input files in MB.

    os.stat rather than snakemake's ``input.size_mb`` (an event loop per call: seconds over the
    thousands of jobs of a big site). A missing input raises FileNotFoundError for that file,
    which snakemake takes as "evaluate again when the input exists", as with ``size_mb``.
    """
    return sum(os.path.getsize(f) for f in input) / 2**20


# Memory of per-tile jobs, the one source of mem_mb for them (local runs and SLURM alike):
#   mem_mb = (base + per_file_mb * size of the job's input files in MB) * attempt
# `attempt` is 1, then 2, ... when a job killed for exceeding its memory is resubmitted (the
# SLURM profile's `retries`). Calibrated on full-size 1000 x 1000 x 426 tiles (peaks measured
# with bench/bench_chain.py and per job, see profiles/slurm/README.md): a cube job peaks at
# 959-1,142 MB for a 543 MB band-chunked .002 file (its raw int16 cube, 852 MB, is held whole)
# and 415 MB for a 508 MB .001 file; a few-band job at 112-122 MB for either.
TILE_MEM = {
    "bands": {"base": 200, "per_file_mb": 0.2},  # h5_to_rgb, h5_to_ancillary, ndvi_tile
    "cube": {
        "base": 300,
        "per_file_mb": 1.6,
    },  # sample_tile, spectral_tile, h5_to_reflectance
}


def _tile_mem(kind, input, attempt):
    m = TILE_MEM[kind]
    return int((m["base"] + m["per_file_mb"] * input_mb(input)) * attempt)


def tile_mem_mb(wildcards, input, attempt):
    """Memory for a job that holds a few bands of one tile (see TILE_MEM)."""
    return _tile_mem("bands", input, attempt)


def ancillary_layer_name(wildcards):
    return ANCILLARY[wildcards.layer]


def tile_cube_mem_mb(wildcards, input, attempt):
    """Memory for a job that streams a tile's cube: the raw integer cube of a band-chunked
    file may be held whole (about 1.6x the gzip-compressed file), plus outputs (see TILE_MEM).
    """
    return _tile_mem("cube", input, attempt)


def endmember_mem_mb(wildcards, attempt):
    """Memory of the site-wide endmember extraction over the pixels sampled from all tiles."""
    return 4000 * attempt


def site_samples(wildcards):
    """Pixel samples for the site endmembers: every tile's; with a library, which only needs the
    image's band set, the first tile's (adding a tile then leaves the endmembers alone).
    """
    tiles = site_tiles()
    if ENDMEMBER_LIBRARY:
        tiles = tiles[:1]
    return [f"{OUT}/tiles/{tile}/sample.npz" for tile in tiles]


def classifier_threshold(wildcards):
    return config["classify"][CLASSIFY_KEYS[wildcards.classifier]]


def classifier_threshold_key(wildcards):
    return f"classify.{CLASSIFY_KEYS[wildcards.classifier]}"


def tile_products(product):
    """Per-tile GeoTIFFs of one product for every tile of the site."""
    return [f"{OUT}/tiles/{tile}/{product}.tif" for tile in site_tiles()]


def mosaic_inputs(wildcards):
    if wildcards.product == "chm":
        return chm_files(wildcards)
    return tile_products(wildcards.product)


def mosaic_resampling(wildcards):
    return product(wildcards.product).overview_resampling


def zonal_rasters():
    """Zonal raster name -> path: site mosaics by name, user GeoTIFFs by their file stem."""
    out = {}
    for item in config["zonal"]["rasters"]:
        if item.endswith((".tif", ".tiff", ".vrt")):
            out[Path(item).stem] = item
        else:
            out[item] = f"{OUT}/mosaic/{item}.tif"
    return out


ZONAL = zonal_rasters() if config["zonal"]["plots"] else {}
if config["zonal"]["plots"] == "demo" and config["source"] != "demo":
    ZONAL = {}
    print(
        "aopflow: zonal statistics skipped: zonal.plots is 'demo' (generated plots exist only "
        f"for source: demo, this run uses source: {config['source']}); set zonal.plots to your "
        "plots file (GeoPackage, Shapefile, GeoJSON or CSV), or null to silence this.",
        file=sys.stderr,
    )


def site_mosaics():
    """Names of the site mosaics the rules can make (spectral ones even with spectral: false,
    when zonal or downscale asks for them)."""
    names = {"rgb", "reflectance", *ANCILLARY, "abundance", "sam", "sid", "ndvi"}
    if config["source"] == "neon" and config["neon"]["chm"]:
        names.add("chm")
    return names


def pixel_size_before_run():
    """(pixel size in metres, where it comes from) for the downscale check; None without
    downscaled products or while the tiles are unknown (source: neon)."""
    if not (config["downscale"]["products"] and config["downscale"]["resolutions"]):
        return None
    if config["source"] == "demo":
        return float(config["demo"]["pixel_size"]), "demo.pixel_size"
    if config["source"] == "local":
        first = select_subset(list(LOCAL_TILES), config["tiles"])[0]
        return read_meta(LOCAL_TILES[first]).res[0], f"tile {LOCAL_TILES[first].name}"
    return None


# Mistakes in one key against another fail here, before any job runs.
startup.check_config(
    config,
    library=ENDMEMBER_LIBRARY[0] if ENDMEMBER_LIBRARY else None,
    mosaics=site_mosaics(),
    zonal_names=list(ZONAL),
    continuous_zonal=any(
        not product(name, config["zonal"]["categorical"]).categorical for name in ZONAL
    ),
    pixel_size=pixel_size_before_run(),
)


def zonal_raster(wildcards):
    return ZONAL[wildcards.zname]


def zonal_plots_file(wildcards):
    plots = config["zonal"]["plots"]
    return f"{OUT}/h5/truth/plots.gpkg" if plots == "demo" else plots


def zonal_is_categorical(wildcards):
    return product(wildcards.zname, config["zonal"]["categorical"]).categorical


def zonal_zero_is_nodata(wildcards):
    return wildcards.zname in config["zonal"]["zero_is_nodata"]


def downscale_method(wildcards):
    return product(wildcards.product).downscale_method


def all_targets(wildcards):
    """The default target's inputs. An input function, because with source neon the tiles
    are known only once the listing checkpoint has run."""
    targets = [f"{OUT}/tiles.csv", f"{OUT}/mosaic/rgb.tif", f"{OUT}/figures/rgb.png"]
    # The per-tile GeoTIFFs are products too: one deleted by hand is made again by a plain run
    # (with the mosaic that merges it), not only when a mosaic is out of date.
    for product in ["rgb", *ANCILLARY, *SPECTRAL_PRODUCTS]:
        targets += tile_products(product)
    targets += [f"{OUT}/mosaic/{name}.tif" for name in ANCILLARY]
    if "wqi" in ANCILLARY:
        targets.append(f"{OUT}/figures/wqi.png")
    targets += [f"{OUT}/mosaic/{name}.tif" for name in SPECTRAL_PRODUCTS]
    for name in ZONAL:
        targets += [f"{OUT}/zonal/{name}.gpkg", f"{OUT}/figures/zonal_{name}_bars.png"]
    for product in config["downscale"]["products"]:
        for res in config["downscale"]["resolutions"]:
            targets.append(f"{OUT}/downscale/{product}_{res}m.tif")
    if config["reflectance_geotiff"]:
        targets += tile_products("reflectance")
    if config["source"] == "neon" and config["neon"]["chm"]:
        targets.append(f"{OUT}/mosaic/chm.tif")
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
    targets += s2_targets()
    targets += s2_product_targets()
    targets += publish_targets()
    return targets
