"""NEON vegetation structure tables (DP1.10098.001): reading them and choosing the stems to use.

``vst_mappingandtagging`` says where a stem is (plotID, pointID, stemDistance, stemAzimuth) and
what it is (taxonID, scientificName); ``vst_apparentindividual`` how it was on each visit
(plantStatus, growthForm, height, maxCrownDiameter, canopyPosition). They join on
``individualID``, as NEON's "Make Training Data for Species Modeling" tutorial does. Columns are
selected by name, so both the older layout (with subplotID) and RELEASE-2025's (with genus,
family, identificationHistoryID) are read.

:func:`select_stems` returns one row per individual found in either table with ``used`` and,
for every row not used, the ``reason`` (``shared/SPECIES.md`` section 3 lists the quirks handled).
"""

from __future__ import annotations

import glob
import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from aopflow.errors import ConfigError, InputDataError

log = logging.getLogger(__name__)

#: Columns read from each table (and what they are used for).
MAPPING_COLUMNS = ("individualID", "date", "plotID", "pointID", "stemDistance", "stemAzimuth",
                   "taxonID", "scientificName")
INDIVIDUAL_COLUMNS = ("individualID", "date", "plotID", "plantStatus", "growthForm", "height",
                      "maxCrownDiameter", "canopyPosition")
#: Read when present: the bout year (``vst_SITE_2019``) and the bole of a multi-bole tree.
OPTIONAL_INDIVIDUAL_COLUMNS = ("eventID", "tempStemID")

#: Label of the pooled rare taxa (``rare_taxa: other``).
OTHER = "OTHER"
#: What happens to taxa with fewer than ``min_individuals`` used individuals.
RARE_TAXA = ("other", "drop")
#: Crown radius from the measured crown diameter (``maxCrownDiameter / 2 * shrink``, the fixed
#: radius where it is missing) or the fixed radius for every stem.
CROWN_RADIUS = ("measured", "fixed")


@dataclass(frozen=True)
class StemFilter:
    """The ``species:`` keys that choose stems (see ``config/schema.yaml``)."""

    growth_forms: tuple[str, ...] = ("single bole tree", "multi-bole tree", "small tree")
    min_height_m: float = 3.0
    canopy_positions: tuple[str, ...] | None = ("Full sun", "Partially shaded", "Open grown")
    years: tuple[int, ...] | None = None
    aop_year: int | None = None
    radius: str = "measured"
    fixed_radius_m: float = 1.5
    shrink: float = 0.6
    min_individuals: int = 10
    rare_taxa: str = "other"

    @classmethod
    def from_config(cls, species: Mapping, aop_year: int | None = None) -> StemFilter:
        crown = dict(species.get("crown") or {})
        cp = species.get("canopy_positions")
        years = species.get("years")
        out = cls(
            growth_forms=tuple(species.get("growth_forms") or cls.growth_forms),
            min_height_m=float(species.get("min_height_m", cls.min_height_m)),
            canopy_positions=None if cp is None else tuple(cp),
            years=None if years is None else tuple(int(y) for y in years),
            aop_year=aop_year,
            radius=crown.get("radius", cls.radius),
            fixed_radius_m=float(crown.get("fixed_radius_m", cls.fixed_radius_m)),
            shrink=float(crown.get("shrink", cls.shrink)),
            min_individuals=int(species.get("min_individuals", cls.min_individuals)),
            rare_taxa=species.get("rare_taxa", cls.rare_taxa),
        )
        if out.radius not in CROWN_RADIUS:
            raise ConfigError(f"Unknown method {out.radius!r} for species.crown.radius; must be one of {sorted(CROWN_RADIUS)}")
        if out.rare_taxa not in RARE_TAXA:
            raise ConfigError(f"Unknown value {out.rare_taxa!r} for species.rare_taxa; must be one of {sorted(RARE_TAXA)}")
        return out


def expand_paths(spec: str | os.PathLike | Sequence[str | os.PathLike], key: str) -> list[Path]:
    """Files named by a config value: one path, a glob, or a list of either (sorted, unique)."""
    items = [spec] if isinstance(spec, str | os.PathLike) else list(spec)
    out: list[Path] = []
    for item in items:
        matches = sorted(glob.glob(str(item))) if glob.has_magic(str(item)) else [str(item)]
        if not matches:
            raise InputDataError(f"{key}: no file matches {item!r}; give existing CSV files (a path, a glob or a list).")
        out += [Path(m) for m in matches]
    missing = [str(p) for p in out if not p.is_file()]
    if missing:
        raise InputDataError(f"{key}: file(s) not found: {missing}")
    return list(dict.fromkeys(out))


def read_table(paths: Iterable[str | os.PathLike], columns: Sequence[str], table: str,
               optional: Sequence[str] = ()) -> pd.DataFrame:
    """Stack NEON CSVs of one table, keeping ``columns`` (all required) and ``optional`` ones.

    Everything is read as text first (pointID reads as ``41.0`` once a column has blanks; taxon
    codes must stay text), then numbers are parsed by :func:`_numeric`. Exact duplicate rows
    (a site-wide table repeated in every month's download) are dropped.
    """
    frames = []
    for path in paths:
        try:
            df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        except (OSError, ValueError, pd.errors.ParserError) as exc:
            raise InputDataError(f"{path}: cannot read it as the CSV table {table} ({exc}).") from exc
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise InputDataError(
                f"{path}: column(s) {missing} missing; expected NEON's {table} table (DP1.10098.001, "
                f"basic package) with at least {list(columns)}; found {list(df.columns)[:12]}..."
            )
        keep = [*columns, *(c for c in optional if c in df.columns)]
        frames.append(df[keep])
    if not frames:
        raise InputDataError(f"no {table} file given")
    out = pd.concat(frames, ignore_index=True).drop_duplicates(ignore_index=True)
    for c in optional:
        if c not in out.columns:
            out[c] = pd.NA
    return out


def _numeric(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s, errors="coerce")


def normalise_point_id(value) -> str | None:
    """A pointID as text: ``41``, ``41.0`` and ``"41"`` -> ``"41"``; ``"A1"`` stays; blank -> None.

    (neonwranglerpy goes through Int64 -> string for the same reason.)"""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    text = str(value).strip()
    if not text or text.lower() == "nan":
        return None
    try:
        f = float(text)
    except ValueError:
        return text
    return str(int(f)) if f.is_integer() else text


_YEAR = re.compile(r"(\d{4})\s*$")


def field_year(event_id, date) -> int | None:
    """The bout year: from eventID (``vst_DELA_2019``) where present, else from the date."""
    if isinstance(event_id, str) and (m := _YEAR.search(event_id)):
        return int(m.group(1))
    if isinstance(date, str) and len(date) >= 4 and date[:4].isdigit():
        return int(date[:4])
    return None


def is_live(status) -> bool:
    """Live stems: every ``Live...`` variant (also ``Live,  other damage`` with two spaces) and
    ``No longer qualifies`` (NEON's biomass code counts it as live)."""
    if not isinstance(status, str):
        return False
    s = status.strip()
    return s.startswith("Live") or s == "No longer qualifies"


def latest_measurements(individual: pd.DataFrame, years: Sequence[int] | None,
                        aop_year: int | None) -> pd.DataFrame:
    """One row per individualID: its latest measurement event within ``years`` (all years up to
    ``aop_year`` when None). The boles of that event (multi-bole trees: one row per tempStemID)
    are resolved to the tallest bole; the crown diameter is the largest measured on any bole.
    """
    df = individual.copy()
    df["year"] = pd.to_numeric(pd.Series([field_year(e, d) for e, d in zip(df["eventID"], df["date"])],
                                         index=df.index, dtype=object), errors="coerce")
    if years is not None:
        df = df[df["year"].isin(list(years))]
    elif aop_year is not None:
        df = df[df["year"].isna() | (df["year"] <= aop_year)]
    df["height"] = _numeric(df["height"])
    df["maxCrownDiameter"] = _numeric(df["maxCrownDiameter"])
    df["_event"] = df["eventID"].fillna(df["date"])
    df = df.sort_values(["individualID", "date", "_event"], kind="stable")
    last_date = df.groupby("individualID")["date"].transform("max")
    latest = df[df["date"] == last_date]
    crown = latest.groupby("individualID")["maxCrownDiameter"].max()
    boles = latest.groupby("individualID")["tempStemID"].nunique()
    latest = latest.sort_values(["individualID", "height"], ascending=[True, False], na_position="last")
    out = latest.drop_duplicates("individualID", keep="first").set_index("individualID")
    out["maxCrownDiameter"] = crown
    out["n_boles"] = boles.reindex(out.index).fillna(0).astype(int)
    return out.drop(columns=["_event"])


def latest_mapping(mapping: pd.DataFrame, aop_year: int | None) -> pd.DataFrame:
    """One row per individualID: its latest mapping record (re-mapped or re-identified
    individuals keep the newest), among records up to ``aop_year`` where there are such."""
    df = mapping.copy()
    if aop_year is not None:
        year = pd.to_numeric(df["date"].str[:4], errors="coerce")
        early = df[year.isna() | (year <= aop_year)]
        later_only = ~df["individualID"].isin(early["individualID"])
        df = pd.concat([early, df[later_only]])
    df = df.sort_values(["individualID", "date"], kind="stable")
    out = df.drop_duplicates("individualID", keep="last").set_index("individualID")
    out["stemDistance"] = _numeric(out["stemDistance"])
    out["stemAzimuth"] = _numeric(out["stemAzimuth"])
    out["pointID"] = [normalise_point_id(v) for v in out["pointID"]]
    return out


#: Output columns of the stems table, in order.
STEM_COLUMNS = ["individualID", "plotID", "pointID", "taxonID", "scientificName", "label",
                "easting", "northing", "height", "crown_radius_m", "radius_source",
                "plantStatus", "growthForm", "canopyPosition", "date", "used", "reason"]


def _reason_before_location(row, flt: StemFilter) -> str | None:
    if not row["measured"]:
        return "no measurement in the years used"
    if not row["mapped"]:
        return "no mapping record"
    if not isinstance(row["taxonID"], str) or not row["taxonID"].strip():
        return "no taxonID"
    if not is_live(row["plantStatus"]):
        return f"not live ({row['plantStatus'] if isinstance(row['plantStatus'], str) else 'no plantStatus'})"
    if row["growthForm"] not in flt.growth_forms:
        return f"growth form {row['growthForm'] if isinstance(row['growthForm'], str) else 'missing'}"
    if not np.isfinite(row["height"]):
        return "no height"
    if row["height"] < flt.min_height_m:
        return "too short"
    cp = row["canopyPosition"]
    # A missing canopy position passes: it is empty on many live stems (SPECIES.md section 3).
    if flt.canopy_positions is not None and isinstance(cp, str) and cp.strip() and cp not in flt.canopy_positions:
        return f"not canopy ({cp})"
    if row["pointID"] is None or not np.isfinite(row["stemDistance"]) or not np.isfinite(row["stemAzimuth"]):
        return "no pointID/distance/azimuth"
    return None


def join_stems(mapping: pd.DataFrame, individual: pd.DataFrame, flt: StemFilter) -> pd.DataFrame:
    """The latest mapping record and measurement of every individual in either table, with a
    ``reason`` for those that cannot be used before locating them (None = a candidate)."""
    mp = latest_mapping(mapping, flt.aop_year)
    ind = latest_measurements(individual, flt.years, flt.aop_year)
    ids = sorted(set(mapping["individualID"].dropna()) | set(individual["individualID"].dropna()))
    df = pd.DataFrame(index=pd.Index(ids, name="individualID"))
    df = df.join(mp[["plotID", "pointID", "stemDistance", "stemAzimuth", "taxonID", "scientificName"]])
    df = df.join(ind[["plotID", "plantStatus", "growthForm", "height", "maxCrownDiameter",
                      "canopyPosition", "date"]], rsuffix="_measured")
    df["plotID"] = df["plotID"].fillna(df["plotID_measured"])
    df["mapped"] = df.index.isin(mp.index)
    df["measured"] = df.index.isin(ind.index)
    df["height"] = df["height"].astype(float)
    df["stemDistance"] = df["stemDistance"].astype(float)
    df["stemAzimuth"] = df["stemAzimuth"].astype(float)
    df["pointID"] = [v if isinstance(v, str) else None for v in df["pointID"]]
    df["reason"] = [_reason_before_location(r, flt) for _, r in df.iterrows()]
    diam = df["maxCrownDiameter"].astype(float)
    if flt.radius == "measured":
        measured = np.isfinite(diam) & (diam > 0)
        df["crown_radius_m"] = np.where(measured, diam / 2 * flt.shrink, flt.fixed_radius_m)
        df["radius_source"] = np.where(measured, "maxCrownDiameter", "fixed (no crown diameter)")
    else:
        df["crown_radius_m"] = flt.fixed_radius_m
        df["radius_source"] = "fixed"
    return df.drop(columns=["plotID_measured"]).reset_index()


def apply_rare_taxa(stems: pd.DataFrame, flt: StemFilter) -> pd.DataFrame:
    """Label used stems: taxa with fewer than ``min_individuals`` used individuals become
    :data:`OTHER` (``rare_taxa: other``) or are dropped with reason ``rare taxon``."""
    out = stems.copy()
    out["label"] = out["taxonID"]
    used = out["reason"].isna()
    counts = out.loc[used, "taxonID"].value_counts()
    rare = set(counts[counts < flt.min_individuals].index)
    is_rare = used & out["taxonID"].isin(rare)
    if flt.rare_taxa == "drop":
        out.loc[is_rare, "reason"] = "rare taxon"
    else:
        out.loc[is_rare, "label"] = OTHER
    if rare:
        log.info("rare taxa (< %d used individuals) %s: %s", flt.min_individuals,
                 "dropped" if flt.rare_taxa == "drop" else f"pooled as {OTHER}",
                 ", ".join(f"{t} ({counts[t]})" for t in sorted(rare)))
    return out
