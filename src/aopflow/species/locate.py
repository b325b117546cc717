"""Locating mapped stems: plot point coordinates + stem distance and azimuth.

E = E_point + d sin(az), N = N_point + d cos(az), with ``d = stemDistance`` (m) and
``az = stemAzimuth`` (degrees clockwise from north), as geoNEON (``getLocVSTmapped``),
neonwranglerpy (``retrieve_coords_itc``) and NEON's tutorial compute it: the offsets are added
on the UTM grid (grid north; NEON defines the azimuth from true north, the difference, the grid
convergence, is under 0.7 m at 20 m: ``shared/SPECIES.md`` section 2). A point published in
another UTM zone than the site's is first reprojected into the site CRS, then offset.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
from pyproj import Transformer

from aopflow.errors import InputDataError
from aopflow.species.tables import normalise_point_id

log = logging.getLogger(__name__)

#: Columns a points table needs (All_NEON_TOS_Plot_Points and the API's locations alike).
POINT_COLUMNS = ("plotID", "pointID", "easting", "northing", "utmZone")

_ZONE = re.compile(r"^\s*(\d{1,2})\s*([NS])?\s*$", re.IGNORECASE)


def utm_epsg(zone: str | int, hemisphere: str = "N") -> int:
    """EPSG code of WGS84 / UTM from NEON's ``utmZone`` (``"16N"``, ``"16"``, 16)."""
    m = _ZONE.match(str(zone))
    if not m or not 1 <= int(m.group(1)) <= 60:
        raise InputDataError(f"utmZone {zone!r} is not a UTM zone such as '16N'")
    hemi = (m.group(2) or hemisphere).upper()
    return (32600 if hemi == "N" else 32700) + int(m.group(1))


def stem_offsets(distance_m, azimuth_deg) -> tuple[np.ndarray, np.ndarray]:
    """(dE, dN) in metres of stems ``distance_m`` from their point at ``azimuth_deg`` clockwise
    from (grid) north. Arrays of any shape, float64."""
    az = np.deg2rad(np.asarray(azimuth_deg, dtype=float))
    d = np.asarray(distance_m, dtype=float)
    return d * np.sin(az), d * np.cos(az)


def read_points(path: str | os.PathLike) -> pd.DataFrame:
    """A plot points table (CSV, or a vector file read without its geometry) ->
    columns plotID, pointID (text, normalised), easting, northing, epsg.

    Rows of All_NEON_TOS_Plot_Points whose ``appMods`` do not include ``vst`` are dropped where
    the column exists; a (plotID, pointID) listed twice keeps its first row.
    """
    path = Path(path)
    if not path.is_file():
        raise InputDataError(f"species.files.points: {path} does not exist")
    try:
        if path.suffix.lower() == ".csv":
            df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        else:
            import geopandas as gpd

            df = pd.DataFrame(gpd.read_file(path).drop(columns="geometry", errors="ignore"))
    except Exception as exc:  # any reader failure is a bad input file
        raise InputDataError(f"{path}: cannot read the plot points ({exc})") from exc
    missing = [c for c in POINT_COLUMNS if c not in df.columns]
    if missing:
        raise InputDataError(
            f"{path}: column(s) {missing} missing; a plot points file needs {list(POINT_COLUMNS)} "
            "(NEON's All_NEON_TOS_Plot_Points has them)."
        )
    if "appMods" in df.columns:
        mods = df["appMods"].fillna("").astype(str)
        df = df[(mods == "") | mods.str.contains("vst")]
    return points_frame(df, str(path))


def points_frame(df: pd.DataFrame, what: str) -> pd.DataFrame:
    """Normalise a points table (see :func:`read_points`)."""
    out = pd.DataFrame({
        "plotID": df["plotID"].astype(str).str.strip(),
        "pointID": [normalise_point_id(v) for v in df["pointID"]],
        "easting": pd.to_numeric(df["easting"], errors="coerce"),
        "northing": pd.to_numeric(df["northing"], errors="coerce"),
        "epsg": [utm_epsg(z) for z in df["utmZone"]],
    })
    bad = out["easting"].isna() | out["northing"].isna() | out["pointID"].isna()
    if bad.any():
        log.warning("%s: %d point rows without pointID/easting/northing ignored", what, int(bad.sum()))
    return out[~bad].drop_duplicates(["plotID", "pointID"], keep="first").reset_index(drop=True)


def points_in_crs(points: pd.DataFrame, epsg: int) -> pd.DataFrame:
    """Points with ``easting``/``northing`` in EPSG ``epsg`` (points of other zones reprojected)."""
    out = points.copy()
    for src in sorted(set(out["epsg"]) - {epsg}):
        sel = out["epsg"] == src
        tr = Transformer.from_crs(src, epsg, always_xy=True)
        x, y = tr.transform(out.loc[sel, "easting"].to_numpy(), out.loc[sel, "northing"].to_numpy())
        out.loc[sel, "easting"], out.loc[sel, "northing"] = x, y
        log.info("%d points reprojected from EPSG:%d to EPSG:%d", int(sel.sum()), src, epsg)
    out["epsg"] = epsg
    return out


def locate_stems(stems: pd.DataFrame, points: pd.DataFrame, epsg: int) -> pd.DataFrame:
    """Add ``easting``/``northing`` (EPSG ``epsg``) to stems with plotID, pointID, stemDistance,
    stemAzimuth; rows whose point is not in ``points`` get NaN and ``point_found`` False."""
    pts = points_in_crs(points, epsg).set_index(["plotID", "pointID"])
    key = pd.MultiIndex.from_arrays([stems["plotID"].astype(str), stems["pointID"].astype(object)])
    found = key.isin(pts.index)
    e0 = pts["easting"].reindex(key).to_numpy()
    n0 = pts["northing"].reindex(key).to_numpy()
    de, dn = stem_offsets(stems["stemDistance"], stems["stemAzimuth"])
    out = stems.copy()
    out["easting"] = e0 + de
    out["northing"] = n0 + dn
    out["point_found"] = found
    return out
