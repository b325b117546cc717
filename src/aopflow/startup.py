"""Start-up checks of the config that the schema cannot express (one key against another, or
against the data's pixel size), run by ``rules/common.smk`` while snakemake parses the workflow.

A mistake found here stops the run before any job starts, with a :class:`ConfigError` naming
the key; found in a job, the same mistake would surface minutes (or a SLURM queue) later, after
the tiles were converted and unmixed. Every check is cheap: config values, the endmember
library's CSV and at most one tile's metadata.
"""

from __future__ import annotations

import math
import re
import os
from collections.abc import Collection, Mapping, Sequence

from aopflow.errors import ConfigError
from aopflow.indices import check_indices
from aopflow.products import S2_PRODUCT_PATTERN

#: Classifier (the ``{classifier}`` of ``mosaic/{classifier}.tif``) -> its ``classify.*``
#: threshold key.
THRESHOLD_KEYS = {"sam": "sam_max_angle", "sid": "sid_max_divergence"}


#: Keys that may name the generated demo data (which exists only for ``source: demo``) -> what
#: a real run gives them instead.
DEMO_KEYS = {
    "zonal.plots": "a plots file (GeoPackage, Shapefile, GeoJSON or CSV)",
    "sentinel2.source": "stac (with sentinel2.api_url)",
    "species.source": "neon or files (with species.files)",
}

#: Pixel size (m) of NEON AOP L3 products (the 1 km x 1 km mosaic tiles are 1000 x 1000 px).
NEON_PIXEL_SIZE = 1.0


def check_demo_sources(config: Mapping) -> None:
    """``demo`` under :data:`DEMO_KEYS` (generated plots, generated Sentinel-2 scenes) needs
    ``source: demo``: that data is made for the generated AOP site only."""
    if config["source"] == "demo":
        return
    for key, instead in DEMO_KEYS.items():
        section, name = key.split(".")
        if config[section][name] == "demo":
            raise ConfigError(
                f"{key} is 'demo', but the generated demo data exists only for source: demo and this "
                f"run uses source: {config['source']}; set {key} to {instead}, or to null to turn "
                "that stage off."
            )


def aop_pixel_size(config: Mapping, first_tile: str | os.PathLike | None = None) -> tuple[float, str] | None:
    """The AOP pixel size before any job runs: ``(metres, where it comes from)``.

    ``source: demo`` -> ``demo.pixel_size``; ``source: neon`` -> :data:`NEON_PIXEL_SIZE`
    (the L3 products are 1 m); ``source: local`` -> the georeferencing of ``first_tile`` (the
    first tile of the run, an HDF5 file whose metadata alone is read), or None without one.
    """
    source = config["source"]
    if source == "demo":
        return float(config["demo"]["pixel_size"]), "demo.pixel_size"
    if source == "neon":
        return NEON_PIXEL_SIZE, "source: neon (NEON AOP L3 products are 1 m)"
    if first_tile is None:
        return None
    from aopflow.neon.reader import read_meta

    return float(read_meta(first_tile).res[0]), f"tile {os.path.basename(first_tile)}"


def n_endmembers(endmembers: Mapping, library: str | None) -> tuple[int, str]:
    """Number of endmembers (classes) a run will have and the key that sets it: the library's
    spectra (its CSV is read and validated now) or ``endmembers.n``."""
    if library:
        from aopflow.spectral import read_endmember_csv

        _, _, names = read_endmember_csv(library)
        return len(names), f"endmembers.library ({library}: {len(names)} spectra {names})"
    return int(endmembers["n"]), f"endmembers.n ({endmembers['n']})"


def check_class_thresholds(classify: Mapping, n: int, source: str) -> None:
    """A per-class threshold list must have one value per endmember."""
    for key in THRESHOLD_KEYS.values():
        value = classify.get(key)
        if isinstance(value, Sequence) and not isinstance(value, str) and len(value) != n:
            raise ConfigError(
                f"classify.{key} has {len(value)} values {list(value)} but there are {n} "
                f"endmembers, set by {source}: give one value per endmember, in endmember "
                "order, or a single number for all of them."
            )


def check_product_names(names: Sequence[str], available: Collection[str], key: str) -> None:
    """Every mosaic named under ``key`` must be one this run makes."""
    missing = [n for n in names if n not in available]
    if missing:
        raise ConfigError(
            f"{key}: {missing} {'is' if len(missing) == 1 else 'are'} not a mosaic this run "
            f"can make; available: {sorted(available)} (an ancillary layer must also be listed "
            "in ancillary_layers; chm needs source: neon with neon.chm: true; an index_{NAME} needs "
            "NAME in indices)."
        )


def check_s2_downscale(names: Sequence[str], sentinel2: Mapping, resolutions: Sequence[float]) -> None:
    """Sentinel-2 products in ``downscale.products`` need the Sentinel-2 stage, and every
    resolution must be a whole multiple of ``sentinel2.resolution``."""
    if not sentinel2.get("source"):
        raise ConfigError(
            f"downscale.products: {names} are Sentinel-2 products, but the Sentinel-2 stage is "
            "off (sentinel2.source: null); set sentinel2.source (demo or stac) or remove them."
        )
    step = float(sentinel2["resolution"])
    bad = [r for r in resolutions if not math.isclose(r / step, round(r / step)) or r < step]
    if bad:
        raise ConfigError(
            f"downscale.resolutions: {bad} m are not whole multiples of sentinel2.resolution "
            f"({step:g} m), which the Sentinel-2 products {names} are on; use e.g. "
            f"{[step * k for k in (3, 10)]}."
        )


def check_s2_index_downscale(names: Sequence[str], config: Mapping) -> None:
    """``s2_index_{NAME}_median`` needs NAME in ``indices`` and its bands in ``sentinel2.bands``."""
    from aopflow.indices import s2_computable

    wanted = [m.group(1) for n in names if (m := re.fullmatch(r"s2_index_(\w+)_median", n))]
    if not wanted:
        return
    missing = [w for w in wanted if w not in (config.get("indices") or [])]
    if missing:
        raise ConfigError(f"downscale.products: s2_index_{{NAME}}_median for {missing}, which "
                          f"are not in indices {config.get('indices')}; add them there.")
    specs = check_indices(wanted, {k: v for k, v in (config.get("index_constants") or {}).items()
                                   if k in wanted})
    _, why = s2_computable(specs, config["sentinel2"]["bands"])
    if why:
        raise ConfigError("downscale.products: no Sentinel-2 composite of "
                          + "; ".join(f"{k} ({v})" for k, v in why.items()) + ".")


def check_downscale_resolutions(resolutions: Sequence[float], pixel_size: float, where: str) -> None:
    """Each downscale resolution must be a whole multiple of the mosaics' pixel size."""
    from aopflow.aggregate import downscale_factor

    for res in resolutions:
        try:
            downscale_factor(pixel_size, res)
        except ConfigError as exc:
            raise ConfigError(f"{exc} (pixel size from {where})") from None


def check_figure_stat(zonal: Mapping) -> None:
    """``zonal.figure_stat`` must be one of the statistics the zonal tables get."""
    from aopflow.zonal import parse_stats

    columns = parse_stats(zonal["stats"], zonal["percentiles"])
    if zonal["figure_stat"] not in columns:
        raise ConfigError(
            f"zonal.figure_stat is {zonal['figure_stat']!r}, which is not among the statistics "
            f"computed ({columns}, from zonal.stats and zonal.percentiles); choose one of them "
            "or add it to zonal.stats."
        )


def check_config(
    config: Mapping,
    *,
    library: str | None,
    mosaics: Collection[str],
    zonal_names: Collection[str],
    continuous_zonal: bool,
    pixel_size: tuple[float, str] | None,
) -> None:
    """All start-up checks.

    Args:
        config: the validated config (schema defaults filled in).
        library: the endmember library path, or None.
        mosaics: names of the site mosaics the rules can make (rgb, wqi, sam...).
        zonal_names: names of the zonal rasters (empty without a zonal stage).
        continuous_zonal: whether any zonal raster is continuous (its bar chart draws
            ``zonal.figure_stat``).
        pixel_size: ``(metres, where it comes from)`` (:func:`aop_pixel_size`), or None when
            not needed or unknown.
    """
    check_demo_sources(config)
    # Index names against spyndex's catalogue (and aopflow's own), constants against the index.
    check_indices(config.get("indices") or [], config.get("index_constants") or {})
    # Even with spectral: false, class maps are made when zonal or downscale asks for them.
    n, source = n_endmembers(config["endmembers"], library)
    check_class_thresholds(config["classify"], n, source)
    downscale = config["downscale"]
    s2_names = [p for p in downscale["products"] if re.match(S2_PRODUCT_PATTERN, p)]
    check_product_names(
        [p for p in downscale["products"] if p not in s2_names], mosaics, "downscale.products"
    )
    if s2_names:
        check_s2_downscale(s2_names, config["sentinel2"], downscale["resolutions"])
        check_s2_index_downscale(s2_names, config)
    zonal = config["zonal"]
    if zonal_names:
        from aopflow.zonal import RASTER_FILE_SUFFIXES

        mosaic_names = [r for r in zonal["rasters"] if not r.endswith(RASTER_FILE_SUFFIXES)]
        check_product_names(mosaic_names, mosaics, "zonal.rasters")
        if continuous_zonal:
            check_figure_stat(zonal)
    if pixel_size is not None and downscale["products"]:
        metres, where = pixel_size
        if not (metres > 0 and math.isfinite(metres)):
            raise ConfigError(f"pixel size {metres} from {where} is not a positive number of metres")
        check_downscale_resolutions(downscale["resolutions"], metres, where)
