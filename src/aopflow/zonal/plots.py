"""Field plots from a vector file or a CSV of coordinates: one reader for zonal statistics
and for selecting the NEON tiles around plots (``neon.tiles.around_plots``).

:func:`load_plots` reads and checks a file (ids, geometry types, CRS); :func:`read_plots` also
reprojects to the raster CRS and turns point plots into discs.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from aopflow.errors import ConfigError, InputDataError

log = logging.getLogger(__name__)

#: Vector formats :func:`read_plots` reads, by file suffix (lower case).
PLOT_FORMATS = {".gpkg": "GeoPackage", ".shp": "Shapefile", ".geojson": "GeoJSON",
                ".json": "GeoJSON", ".csv": "CSV"}

#: Segments per quarter circle of the discs drawn around point plots (GeoPandas' default,
#: used by NEON's tutorial; shapely's own default is 8).
BUFFER_QUAD_SEGS = 16


@dataclasses.dataclass(frozen=True)
class PlotKeys:
    """The config keys an error message names (the plots of zonal statistics by default)."""

    path: str = "zonal.plots"
    crs: str = "zonal.plots_crs"
    x_column: str = "zonal.x_column"
    y_column: str = "zonal.y_column"
    id_column: str = "zonal.id_column"
    buffer_m: str = "zonal.buffer_m"


ZONAL_KEYS = PlotKeys()
#: ``neon.tiles.around_plots`` takes the same keys (``path``, ``plots_crs``, ...).
AROUND_PLOTS_KEYS = PlotKeys(
    **{
        f.name: f"neon.tiles.around_plots.{'plots_crs' if f.name == 'crs' else f.name}"
        for f in dataclasses.fields(PlotKeys)
    }
)


def load_plots(
    path: str | os.PathLike,
    *,
    id_column: str | None,
    crs: Any = None,
    x_column: str = "x",
    y_column: str = "y",
    keys: PlotKeys = ZONAL_KEYS,
):
    """Read and check field plots (points or polygons) in the file's own CRS.

    Args:
        path: GeoPackage (first layer), Shapefile, GeoJSON, or CSV with coordinate columns.
        id_column: column holding a unique plot id (e.g. NEON's ``plotID``); None: no id
            column is needed (plots are named by their 1-based row in messages).
        crs: CRS of a CSV's coordinates (e.g. ``"EPSG:32611"``), or of a vector file that has
            none; ignored when the file declares its CRS.
        x_column, y_column: coordinate columns of a CSV.
        keys: config keys named in error messages.

    Returns:
        GeoDataFrame with every input column, point or polygon geometry, a CRS, a 0..n-1 index.

    Raises:
        InputDataError: missing/unreadable file, unsupported suffix, no features, missing id or
            coordinate column, duplicate or null ids, null/empty geometry, non-numeric CSV
            coordinates, lines, or no CRS.
    """
    import geopandas as gpd
    import pandas as pd
    import pyogrio.errors
    from pyproj import CRS

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in PLOT_FORMATS:
        raise InputDataError(
            f"Plots file {path} has unsupported suffix {path.suffix!r}; use one of "
            f"{sorted(PLOT_FORMATS)} (GeoPackage, Shapefile, GeoJSON or CSV with "
            f"{x_column!r}/{y_column!r} columns)."
        )
    if not path.is_file():
        raise InputDataError(f"Plots file {path} does not exist; check {keys.path}.")

    if suffix == ".csv":
        try:
            df = pd.read_csv(path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
            raise InputDataError(f"Cannot read plots CSV {path}: {err}") from err
        if len(df) == 0:
            raise InputDataError(f"Plots file {path} has no features (no data rows).")
        _check_id_column(df, id_column, path, keys)
        missing = [c for c in (x_column, y_column) if c not in df.columns]
        if missing:
            raise InputDataError(
                f"Plots CSV {path} lacks coordinate column(s) {missing}; it has columns "
                f"{list(df.columns)}. Set {keys.x_column} / {keys.y_column} to the right names."
            )
        if crs is None:
            raise InputDataError(
                f"Plots CSV {path} does not say which CRS its {x_column!r}/{y_column!r} "
                f"coordinates are in; set {keys.crs} (e.g. \"EPSG:32611\")."
            )
        xs = pd.to_numeric(df[x_column], errors="coerce")
        ys = pd.to_numeric(df[y_column], errors="coerce")
        bad_text = (xs.isna() & df[x_column].notna()) | (ys.isna() & df[y_column].notna())
        if bad_text.any():
            raise InputDataError(
                f"Plots CSV {path} has non-numeric coordinates in {x_column!r}/{y_column!r} for "
                f"plot(s) {_labels(df, id_column)[bad_text.to_numpy()].tolist()[:20]}."
            )
        geometry = gpd.points_from_xy(xs, ys)
        geometry[(xs.isna() | ys.isna()).to_numpy()] = None
        gdf = gpd.GeoDataFrame(df, geometry=geometry, crs=crs)
    else:
        try:
            gdf = gpd.read_file(path, engine="pyogrio")
        except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError,
                pyogrio.errors.FieldError, pyogrio.errors.GeometryError,
                pyogrio.errors.FeatureError, pyogrio.errors.CRSError) as err:
            raise InputDataError(
                f"Cannot read plots file {path} as {PLOT_FORMATS[suffix]}: {err}"
            ) from err
        if len(gdf) == 0:
            raise InputDataError(f"Plots file {path} has no features.")
        _check_id_column(gdf, id_column, path, keys)
        if gdf.crs is None:
            if crs is None:
                raise InputDataError(
                    f"Plots file {path} has no CRS (e.g. a Shapefile without .prj); set "
                    f"{keys.crs} to the CRS of its coordinates (e.g. \"EPSG:32611\")."
                )
            gdf = gdf.set_crs(crs)
        elif crs is not None and CRS.from_user_input(crs) != gdf.crs:
            log.warning("Plots file %s declares CRS %s; ignoring %s=%s.",
                        path, gdf.crs.to_string(), keys.crs, crs)
    gdf = gdf.reset_index(drop=True)

    ids = _labels(gdf, id_column)
    if id_column is not None:
        if ids.isna().any():
            rows = np.flatnonzero(ids.isna().to_numpy())
            raise InputDataError(
                f"Plots file {path} has empty {id_column!r} values in feature(s) at row(s) "
                f"{(rows + 1).tolist()[:20]} (1-based); every plot needs an id."
            )
        dup = ids[ids.duplicated(keep=False)]
        if len(dup):
            raise InputDataError(
                f"Plots file {path} has duplicate {id_column!r} values: "
                f"{sorted(set(dup.astype(str)))[:20]}; plot ids must be unique."
            )
    geom = gdf.geometry
    null = geom.isna() | geom.is_empty
    if null.any():
        raise InputDataError(
            f"Plots file {path} has empty or null geometry for plot(s) "
            f"{ids[null.to_numpy()].tolist()[:20]} ({id_column or 'row'!r}); give them "
            f"coordinates or remove them."
        )
    kinds = geom.geom_type
    if not kinds.isin(_POINT_TYPES + _POLYGON_TYPES).all():
        bad = ~kinds.isin(_POINT_TYPES + _POLYGON_TYPES).to_numpy()
        raise InputDataError(
            f"Plots file {path} has {sorted(set(kinds[bad]))} geometry for plot(s) "
            f"{ids[bad].tolist()[:20]}; plots must be points (plot centres) or polygons."
        )
    return gdf


_POINT_TYPES = ["Point", "MultiPoint"]
_POLYGON_TYPES = ["Polygon", "MultiPolygon"]


def _labels(df, id_column: str | None):
    """Plot labels for messages: the id column, or 1-based row numbers."""
    import pandas as pd

    return df[id_column] if id_column is not None else pd.Series(np.arange(1, len(df) + 1))


def read_plots(
    path: str | os.PathLike,
    *,
    id_column: str,
    buffer_m: float = 20.0,
    crs: Any = None,
    x_column: str = "x",
    y_column: str = "y",
    target_crs: Any,
    keys: PlotKeys = ZONAL_KEYS,
):
    """Read field plots (:func:`load_plots`) and return their polygons in the raster CRS.

    Point plots (plot centres) become discs of radius ``buffer_m`` metres (polygons with
    :data:`BUFFER_QUAD_SEGS` = 16 segments per quarter circle, as GeoPandas' ``buffer`` in
    NEON's tutorial), drawn after
    reprojection to ``target_crs`` so the radius is in that CRS's metres; polygon plots are used
    as they are (reprojected if needed).

    Args:
        path, id_column, crs, x_column, y_column, keys: as in :func:`load_plots`.
        buffer_m: disc radius for point plots, metres (> 0).
        target_crs: CRS of the raster; plots are reprojected to it. Must be projected (metres).

    Returns:
        GeoDataFrame with every input column and polygon geometry in ``target_crs``.

    Raises:
        InputDataError: as :func:`load_plots`; point plots and a CRS not in metres.
        ConfigError: ``buffer_m`` <= 0 while there are point plots.
    """
    from pyproj import CRS

    gdf = load_plots(path, id_column=id_column, crs=crs, x_column=x_column, y_column=y_column,
                     keys=keys)
    point = gdf.geometry.geom_type.isin(_POINT_TYPES).to_numpy()
    target = CRS.from_user_input(target_crs)
    if gdf.crs != target:
        log.info("Reprojecting plots of %s from %s to %s.", path, gdf.crs.to_string(),
                 target.to_string())
        gdf = gdf.to_crs(target)
    if point.any():
        if not buffer_m or buffer_m <= 0:
            raise ConfigError(
                f"{keys.buffer_m} must be > 0 to turn the {int(point.sum())} point plots of {path} "
                f"into discs; got {buffer_m!r}."
            )
        units = {a.unit_name for a in target.axis_info}
        if not target.is_projected or not units <= {"metre", "meter"}:
            raise InputDataError(
                f"Point plots of {path} are buffered by {keys.buffer_m} metres, but the raster CRS "
                f"{target.to_string()} is not a projected CRS in metres (e.g. UTM)."
            )
        gs = gdf.geometry.copy()
        gs[point] = shapely.buffer(gs[point].to_numpy(), buffer_m, quad_segs=BUFFER_QUAD_SEGS)
        gdf = gdf.set_geometry(gs)
    invalid = ~gdf.geometry.is_valid
    if invalid.any():
        log.warning("Plots %s of %s have invalid polygons (e.g. self-intersections); "
                    "statistics use the even-odd rule on them.",
                    gdf.loc[invalid, id_column].tolist()[:20], path)
    return gdf.reset_index(drop=True)


def _check_id_column(df, id_column: str | None, path: Path, keys: PlotKeys) -> None:
    if id_column is not None and id_column not in df.columns:
        cols = [c for c in df.columns if c != "geometry"]
        raise InputDataError(
            f"Plots file {path} has no id column {id_column!r}; its columns are {cols}. "
            f"Set {keys.id_column} to one of them."
        )
