# Helpers of rules/species.smk (included by it): the effective species config (SPECIES), where the
# field tables come from, the parameters of each job (only the keys it uses, so that an edit
# reruns only what it touches) and rule all's species targets (species_targets, registered in
# STAGE_TARGETS of common.smk).
from aopflow.errors import ConfigError
from aopflow.species.tables import expand_paths as species_expand_paths

# species.source demo with another source stops at start-up (startup.check_demo_sources).
SPECIES = config["species"]
SPECIES_DIR = f"{OUT}/species"
SPECIES_DEMO_DIR = f"{OUT}/h5/vst"
SPECIES_NEON_DIR = f"{SPECIES_DIR}/neon"
SPECIES_TABLES = ("mapping", "individual", "points")
SPECIES_TABLE_FILES = {
    "mapping": "vst_mappingandtagging.csv",
    "individual": "vst_apparentindividual.csv",
    "points": "All_NEON_TOS_Plot_Points.csv",
}
# What chooses and locates the stems (species_stems).
SPECIES_STEM_KEYS = (
    "years",
    "growth_forms",
    "min_height_m",
    "canopy_positions",
    "crown",
    "min_individuals",
    "rare_taxa",
)
SPECIES_STEM_PARAMS = {
    k: (
        {kk: v for kk, v in SPECIES[k].items() if kk != "overlap"}
        if k == "crown"
        else SPECIES[k]
    )
    for k in SPECIES_STEM_KEYS
}
# What the model uses (species_model): a classifier edit reruns the model and prediction only.
SPECIES_MODEL_PARAMS = {k: SPECIES[k] for k in ("classifier", "features", "cv")}


def species_table_files(wildcards=None):
    """The field tables of the configured source: table -> file(s)."""
    source = SPECIES["source"]
    if source == "demo":
        return {
            t: f"{SPECIES_DEMO_DIR}/{SPECIES_TABLE_FILES[t]}" for t in SPECIES_TABLES
        }
    if source == "neon":
        return {
            t: f"{SPECIES_NEON_DIR}/{SPECIES_TABLE_FILES[t]}" for t in SPECIES_TABLES
        }
    return SPECIES_USER_FILES


def species_user_files():
    """source files: the user's tables (globs and lists expanded), checked at start-up."""
    files = SPECIES["files"]
    out = {}
    for t in SPECIES_TABLES:
        if not files.get(t):
            raise ConfigError(
                f"species.source is files but species.files.{t} is not set; give the path of "
                f"NEON's {SPECIES_TABLE_FILES[t]} (a path, a glob or a list)."
            )
    out["mapping"] = [str(p) for p in species_paths(files["mapping"], "mapping")]
    out["individual"] = [
        str(p) for p in species_paths(files["individual"], "individual")
    ]
    out["points"] = str(species_paths(files["points"], "points")[0])
    return out


def species_paths(value, table):
    return species_expand_paths(value, f"species.files.{table}")


# source files: the user's tables, checked (and globs expanded) before any job runs.
SPECIES_USER_FILES = species_user_files() if SPECIES["source"] == "files" else {}


def species_training_files(wildcards):
    return [f"{SPECIES_DIR}/training/{tile}.npz" for tile in site_tiles()]


def species_demo_truth_files():
    return {tile: f"{OUT}/h5/truth/species_{tile}.tif" for tile in DEMO_NAMES}


def species_targets():
    """Rule all's species targets (none when species.source is null)."""
    if not SPECIES["source"]:
        return []
    targets = [
        f"{SPECIES_DIR}/stems.csv",
        f"{SPECIES_DIR}/stems.gpkg",
        f"{SPECIES_DIR}/model.joblib",
        f"{SPECIES_DIR}/cv_metrics.csv",
        f"{SPECIES_DIR}/classes.csv",
        f"{OUT}/mosaic/species.tif",
        f"{OUT}/mosaic/species_probability.tif",
        f"{OUT}/figures/species.png",
        f"{OUT}/figures/species_confusion.png",
        f"{OUT}/figures/species_f1.png",
    ]
    for product in SPECIES_PRODUCTS:
        targets += tile_products(product)
    if SPECIES["source"] == "demo":
        targets += list(species_demo_truth_files().values())
    return targets


STAGE_TARGETS.append(species_targets)
