"""Spectral indices (rules/indices.smk): one job per tile and index from the tile's band
extract, one per Sentinel-2 date and index from the date's reflectance, one median composite
per index.

The per-tile band extract (``tiles/{tile}/index_bands.tif``: every band symbol's reflectance,
from the cleaned band nearest its centre) is written by the NDVI job in its single read of the
tile (:func:`aopflow.stages.spectral.ndvi_tile`); it does not depend on which indices are
configured, so adding an index runs only that index's jobs. Formulas, constants and the
no-data rule: :mod:`aopflow.indices.catalogue`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import rasterio

from aopflow.errors import InputDataError
from aopflow.indices import compute_index, index_spec, s2_computable
from aopflow.indices.bandmap import s2_band_wavelengths
from aopflow.raster import write_cog, write_geotiff
from aopflow.sentinel2.composite import date_of_path, median_composite, select_dates
from aopflow.sentinel2.dates import read_date_summary

log = logging.getLogger(__name__)


def _read_named_bands(path, names: Sequence[str], tag: str | None) -> tuple[dict[str, np.ndarray], dict, object]:
    """{name: (rows, cols) float32} for ``names`` from a raster whose bands are named by the
    comma-separated tag ``tag`` (or, without, by the band descriptions); also the tags and
    the profile."""
    with rasterio.open(path) as src:
        tags = src.tags()
        have = tags[tag].split(",") if tag and tag in tags else list(src.descriptions)
        missing = [n for n in names if n not in have]
        if missing:
            raise InputDataError(
                f"{path}: no band(s) {missing} (it has {have}). It was made by another "
                f"configuration or aopflow version; delete it and rerun.")
        out = {n: src.read(have.index(n) + 1, out_dtype="float32") for n in names}
        nodata = src.nodata
        if nodata is not None and not np.isnan(nodata):
            for a in out.values():
                a[a == np.float32(nodata)] = np.nan
        return out, tags, src.profile


def index_tile(
    index_bands: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    index: str,
    constants: Mapping[str, float] | None = None,
) -> Path:
    """``tiles/{tile}/index_{index}.tif``: float32 ``(rows, cols)``, NaN = no data, from the
    tile's band extract (symbol reflectances, :func:`aopflow.stages.spectral.ndvi_tile`)."""
    spec = index_spec(index, constants)
    with rasterio.open(index_bands) as src:
        lacking = [s for s in src.tags().get("missing_symbols", "").split(",") if s in spec.bands]
    if lacking:
        raise InputDataError(
            f"{index_bands}: the tile has no band for {', '.join(lacking)}, which {index} "
            f"({spec.formula}) needs (the sensor does not reach it, or the clean section drops "
            f"it: see logs/ndvi_tile); drop {index} from indices.")
    bands, tags, prof = _read_named_bands(index_bands, spec.bands, "symbols")
    # The extract holds DNs (NEON: reflectance = DN / 10000); constants such as EVI's L need
    # reflectance.
    scale = np.float32(1.0 / float(tags.get("scale_factor", 1.0)))
    bands = {s: a * scale for s, a in bands.items()}
    syms = tags["symbols"].split(",")
    wls = dict(zip(syms, (float(w) for w in tags["wavelengths_nm"].split(","))))
    val = compute_index(spec, bands, wavelengths=wls)
    used = ", ".join(f"{s} {wls[s]:.1f} nm" for s in spec.bands)
    log.info("%s = %s from %s; %d valid pixels", index, spec.formula, used, int(np.isfinite(val).sum()))
    return write_geotiff(out_path, val, crs=prof["crs"], transform=prof["transform"],
                         nodata=float("nan"), band_names=[index],
                         tags={"index": index, "formula": spec.formula, "bands": used,
                               "constants": str(dict(spec.constants)), "reference": spec.reference})


def s2_index_date(
    reflectance: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    index: str,
    assets: Sequence[str],
    constants: Mapping[str, float] | None = None,
) -> Path:
    """``s2/dates/{date}/index_{index}.tif``: the index from the date's reflectance (bands
    ``assets`` = ``sentinel2.bands``), float32 COG on the site grid, NaN = no data."""
    spec = index_spec(index, constants)
    ok, why = s2_computable([spec], assets)
    if index not in ok:
        raise InputDataError(f"Sentinel-2 {index}: {why[index]}.")
    need = ok[index]
    vals, _, prof = _read_named_bands(reflectance, sorted(set(need.values())), None)
    bands = {s: vals[a] for s, a in need.items()}
    val = compute_index(spec, bands, wavelengths=s2_band_wavelengths(spec.bands))
    log.info("%s %s = %s from %s; %d valid pixels", date_of_path(out_path), index, spec.formula,
             need, int(np.isfinite(val).sum()))
    write_cog(out_path, val, crs=prof["crs"], transform=prof["transform"], nodata=float("nan"),
              overview_resampling="average", band_names=[index],
              tags={"index": index, "formula": spec.formula, "bands": str(need)}, level=1)
    return Path(out_path)


def s2_index_composite(
    date_summary: str | os.PathLike,
    index_paths: Sequence[str | os.PathLike],
    out_path: str | os.PathLike,
    *,
    index: str,
) -> Path:
    """``s2/composite/index_{index}_median.tif``: per-pixel median of the index over the used
    dates (as the NDVI composite: the median of each date's index, not the index of the median
    reflectance)."""
    rows = read_date_summary(date_summary)
    by_date = {date_of_path(p): str(p) for p in index_paths}
    used = [r["date"] for r in rows if r["used"] and r["date"] in by_date]
    if not used:
        log.warning("%s composite: no used Sentinel-2 date; writing an empty composite.", index)
    median_composite(select_dates(by_date.values(), used), None, ndvi_out=out_path, count_out=None,
                     tags={"dates": ";".join(used), "index": index},
                     grid_like=next(iter(by_date.values())) if by_date else None)
    return Path(out_path)
