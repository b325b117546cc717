# Shared set-up: config validation, path helpers and the site's tile list.
import functools
import os
import sys
from pathlib import Path

from snakemake.utils import validate

from aopflow.neon.reader import canonical_layer, layer_product_name, tile_id_from_name
from aopflow.neon.api import read_tile_listing
from aopflow.stages import demo as aop_demo
from aopflow.stages import tiles as aop_site

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


wildcard_constraints:
    tile=r"\d{6}_\d{7}",
    h5name=r"NEON_[A-Za-z0-9_]+_reflectance\.h5",
    chmname=r"NEON_[A-Za-z0-9_]+_CHM\.tif",
    classifier="sam|sid",
    res=r"\d+",
    zname=r"[A-Za-z0-9_.-]+",
    layer="|".join(ANCILLARY) or "none",


@functools.lru_cache(maxsize=8)
def _read_listing(path, mtime):
    return {t.tile: t for t in read_tile_listing(path)}


def neon_listing(kind="h5"):
    """Tile id -> listed NEON file (after the listing checkpoint has run)."""
    cp = checkpoints.neon_listing if kind == "h5" else checkpoints.chm_listing
    path = cp.get().output[0]
    return _read_listing(path, os.path.getmtime(path))


def neon_file_name(tile):
    return neon_listing()[tile].name


def tile_of_file(wildcards):
    return tile_id_from_name(wildcards.get("h5name") or wildcards.get("chmname"))


def _checksum(kind, wildcards):
    entry = neon_listing(kind)[tile_of_file(wildcards)]
    return f"{entry.size}:{entry.crc32c}"


def listed_checksum(wildcards):
    """Size and CRC32C of the listed file: a republished tile (new checksum) is fetched again,
    while a fresh listing with new signed URLs alone changes nothing."""
    return _checksum("h5", wildcards)


def listed_chm_checksum(wildcards):
    return _checksum("chm", wildcards)


def chm_files(wildcards):
    listing = neon_listing("chm")
    return [f"{OUT}/chm/{listing[t].name}" for t in site_tiles() if t in listing]


def available_tiles():
    """Every tile id the source offers (before the `tiles` subset)."""
    if config["source"] == "demo":
        return list(DEMO_NAMES)
    if config["source"] == "local":
        return list(LOCAL_TILES)
    return list(neon_listing())


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


def input_mb(input):
    """Total size of a job's input files in MB.

    os.stat rather than snakemake's ``input.size_mb`` (an event loop per call: seconds over the
    thousands of jobs of a big site). A missing input raises FileNotFoundError for that file,
    which snakemake takes as "evaluate again when the input exists", as with ``size_mb``.
    """
    return sum(os.path.getsize(f) for f in input) / 2**20


def tile_mem_mb(wildcards, input):
    """Memory for a job that holds a few bands of one tile: grows with the tile's file size."""
    return int(600 + 2 * input_mb(input))


def ancillary_layer_name(wildcards):
    return ANCILLARY[wildcards.layer]


def tile_cube_mem_mb(wildcards, input):
    """Memory for a job that streams a tile's cube: the raw integer cube of a band-chunked
    file may be held whole (about 2.5x the gzip-compressed file), plus outputs."""
    return int(800 + 2.5 * input_mb(input))


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
    return "nearest" if wildcards.product in CLASS_PRODUCTS else "average"


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


def zonal_raster(wildcards):
    return ZONAL[wildcards.zname]


def zonal_plots_file(wildcards):
    plots = config["zonal"]["plots"]
    return f"{OUT}/h5/truth/plots.gpkg" if plots == "demo" else plots


def zonal_is_categorical(wildcards):
    return wildcards.zname in CLASS_PRODUCTS


def zonal_zero_is_nodata(wildcards):
    return wildcards.zname in config["zonal"]["zero_is_nodata"]


def downscale_method(wildcards):
    return "majority" if wildcards.product in CLASS_PRODUCTS else "mean"


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
    return targets
