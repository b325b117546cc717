# Helpers of rules/download.smk (included by it): the download jobs' params over the product
# table NEON_PRODUCTS (common.smk, whose reflectance listing is the site's tile list). Downloads
# have no targets of their own: the jobs that read the tiles pull them in.
from aopflow.neon import naming

NEON_FILE_NAME_PATTERN = f"{naming.REFLECTANCE_NAME_PATTERN}|{naming.CHM_NAME_PATTERN}"


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
