# Helpers of rules/download.smk (included by it): the product table NEON_PRODUCTS, the listed
# files (listed_files, whose reflectance listing is the site's tile list for source neon: see
# site_tiles in common.smk) and the download jobs' params. Downloads have no targets of their
# own: the jobs that read the tiles pull them in.
import functools
import os

from aopflow.neon import naming
from aopflow.neon.listing import read_tile_listing

# The NEON products downloaded, by the folder their tiles go to.
NEON_PRODUCTS = {
    "h5": {"code": config["neon"]["product"], "listing": "tiles", "runtime": 120},
    "chm": {"code": naming.CHM, "listing": "chm_tiles", "runtime": 60},
}
NEON_FILE_NAME_PATTERN = f"{naming.REFLECTANCE_NAME_PATTERN}|{naming.CHM_NAME_PATTERN}"


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
