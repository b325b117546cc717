# Helpers of rules/brdf.smk (included by it): whether the BRDF correction runs for this site,
# the coefficients every reflectance-reading job takes as input when it does, and the fit's
# parameters and targets.
from aopflow.brdf.model import correction_enabled
from aopflow.neon.naming import revision_from_name


def site_revision():
    """Product revision ("001" or "002") of the site's tiles, from the config or the file names
    (no file is opened)."""
    if config["source"] == "demo":
        return str(config["demo"]["revision"])
    if config["source"] == "neon":
        return config["neon"]["product"].rsplit(".", 1)[-1]
    first = sorted(LOCAL_TILES.values())[:1]
    return "002" if not first or revision_from_name(first[0]) == "002" else "001"


# auto: on for .001 tiles, off for .002; true on .002 fails here, before any job.
BRDF_ON = correction_enabled(
    config["brdf"]["enabled"],
    site_revision(),
    where=f"the tiles of source {config['source']}",
)
BRDF_DIR = f"{OUT}/brdf"
# A tile's per-pixel correction terms (kernels, incidence, lines): written by sample_tile from
# its geometry read, loaded by the tile's correcting jobs (aopflow.brdf.apply.write_tile_terms).
BRDF_TILE_TERMS = f"{OUT}/tiles/{{tile}}/brdf_terms.npz"
_brdf = config["brdf"]
# The fit's parameters (the sample size is the sampling job's, in spectral_common.smk).
BRDF_FIT = {
    "group": _brdf["group"],
    "topo": _brdf["topo"],
    "geometric": _brdf["geometric"],
    "ndvi_bins": _brdf["ndvi_bins"],
    "min_samples": _brdf["min_samples"],
    "solar_zenith": _brdf["solar_zenith"],
    "ndvi_min": _brdf["ndvi_min"],
    "dark_nir": _brdf["dark_nir"],
    "max_slope": _brdf["max_slope"],
    "wqi_max": _brdf["wqi_max"],
    "nonnegative": _brdf["nonnegative"],
}


def brdf_fit_mem_mb(wildcards, attempt):
    """Memory of the site fit: the pooled samples (tiles x sample_size x bands float32) twice."""
    n = len(site_tiles()) * _brdf["sample_size"] * 430 * 4 / 2**20
    return int((1000 + 3 * n) * attempt)


def brdf_coefficients(wildcards):
    """[] or [the site's coefficients] (and, for a job of one tile, that tile's terms file):
    an input of every job that reads reflectance (not of the RGB and ancillary conversions),
    so the fit comes first and an edit reruns them.
    """
    if not BRDF_ON:
        return []
    tile = getattr(wildcards, "tile", None)
    terms = [BRDF_TILE_TERMS.format(tile=tile)] if tile else []
    return [f"{BRDF_DIR}/coefficients.json", *terms]


def brdf_site_samples(wildcards):
    """Every tile's pixel sample (the sampling job draws the fit's sample in the same read)."""
    return [f"{OUT}/tiles/{tile}/sample.npz" for tile in site_tiles()]


def brdf_targets():
    """The coefficients and the diagnostics figure (when the correction runs)."""
    if not BRDF_ON:
        return []
    return [f"{BRDF_DIR}/coefficients.json", f"{BRDF_DIR}/diagnostics.png"]


STAGE_TARGETS.append(brdf_targets)
