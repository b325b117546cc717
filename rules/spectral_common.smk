# Helpers of rules/spectral.smk (included by it): what an endmember library replaces, the
# classifiers' thresholds, the site endmembers' inputs and memory, and rule all's spectral
# targets.
from aopflow.products import SPECTRAL_PRODUCTS
from aopflow.startup import THRESHOLD_KEYS

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
SAMPLE_BRDF_OUTPUT = {}
# The BRDF fit's sample and the tile's correction terms, from the same read (brdf.smk).
if BRDF_ON:
    SAMPLING = {
        **SAMPLING,
        "brdf_samples": config["brdf"]["sample_size"],
        "brdf_geometric": config["brdf"]["geometric"],
    }
    SAMPLE_BRDF_OUTPUT = {"brdf_terms": BRDF_TILE_TERMS}
EXTRACTION = (
    {}
    if ENDMEMBER_LIBRARY
    else {"method": _em["method"], "n": _em["n"], "seed": _em["seed"]}
)


wildcard_constraints:
    classifier="|".join(THRESHOLD_KEYS),


def ndvi_tile_extracts():
    """The NDVI job's other outputs, from the same read of the tile: the band extract of the
    indices (with indices) and AOP in the Sentinel-2 bands (with Sentinel-2 and spectral: the
    comparison's input)."""
    out = {}
    if config["indices"]:
        out["symbols"] = f"{OUT}/tiles/{{tile}}/band_symbols.tif"
    if S2_BANDS_WANTED:
        out["s2_bands"] = f"{OUT}/tiles/{{tile}}/s2_bands.tif"
    return out


# AOP seen in the Sentinel-2 bands is made for the AOP-vs-Sentinel-2 comparison.
S2_BANDS_WANTED = bool(config["sentinel2"]["source"]) and config["spectral"]
# Params of the extracts only when they are made (so a run without them keeps its NDVI).
NDVI_TILE_EXTRACT_PARAMS = {
    **({"clean": config["clean"]} if config["indices"] or S2_BANDS_WANTED else {}),
    **({"s2_assets": config["sentinel2"]["bands"]} if S2_BANDS_WANTED else {}),
}


def ndvi_tile_mem_mb(wildcards, input, attempt):
    """A few bands, or the band extracts too (indices, Sentinel-2 bands)."""
    if ndvi_tile_extracts():
        return tile_extract_mem_mb(wildcards, input, attempt)
    return tile_mem_mb(wildcards, input, attempt)


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
    return config["classify"][THRESHOLD_KEYS[wildcards.classifier]]


def classifier_threshold_key(wildcards):
    return f"classify.{THRESHOLD_KEYS[wildcards.classifier]}"


def spectral_targets():
    """The endmembers and every tile's spectral products (with spectral: true)."""
    if not config["spectral"]:
        return []
    tiles = [path for name in SPECTRAL_PRODUCTS for path in tile_products(name)]
    return [f"{OUT}/endmembers.csv", *tiles]


STAGE_TARGETS.append(spectral_targets)
