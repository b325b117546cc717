"""Zonal statistics of raster files, read window by window around the plots, and the writers
of their results (GeoPackage + CSV tables, per-plot pixel arrays), all atomic.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine

from aopflow.errors import ConfigError, InputDataError
from aopflow.io import atomic_path
from aopflow.zonal.membership import as_geometry_array, check_polygons, plot_windows
from aopflow.zonal.stats import (
    assemble_columns,
    parse_stats,
    stats_by_window,
    warn_empty,
    zero_to_nodata,
    zonal_stats_array,
)

log = logging.getLogger(__name__)

#: A ``zonal.rasters`` entry ending so is a raster file; any other entry names a site mosaic.
RASTER_FILE_SUFFIXES = (".tif", ".tiff", ".vrt")
#: A zonal raster's name (the ``{zname}`` of ``zonal/{zname}.gpkg``; the schema's
#: ``zonal.categorical`` and ``zonal.zero_is_nodata`` patterns say the same).
RASTER_NAME_PATTERN = r"[A-Za-z0-9_.-]+"


def zonal_rasters(entries: Sequence[str], mosaic_dir: str) -> dict[str, str]:
    """Zonal raster name -> path for the ``zonal.rasters`` entries: a site mosaic by its name
    (``{mosaic_dir}/{name}.tif``), a user's raster file by its file stem."""
    out = {}
    for entry in entries:
        if entry.endswith(RASTER_FILE_SUFFIXES):
            out[Path(entry).stem] = entry
        else:
            out[entry] = f"{mosaic_dir}/{entry}.tif"
    return out


def zonal_stats_file(
    plots_gdf,
    raster_path: str | os.PathLike,
    *,
    band: int | Sequence[int] | None = 1,
    stats: str | Sequence[str] = ("count", "min", "max", "mean", "median", "std"),
    percentiles: Sequence[float] = (),
    categorical: bool = False,
    exact: bool = False,
    nodata: float | None = None,
    zero_is_nodata: bool = False,
    id_column: str | None = None,
    window_size: int = 1024,
):
    """Zonal statistics of a GeoTIFF at plot polygons, reading only windows around the plots.

    Plots are grouped by the ``window_size`` x ``window_size`` raster tile of their top-left
    pixel, and one window covering each group's plots is read (so memory is bounded by about
    ``window_size**2`` pixels per band, whatever the mosaic size). A plot is always computed
    whole, on the single site mosaic, even when it straddles NEON tile borders.

    Args:
        plots_gdf: GeoDataFrame of plot polygons (from :func:`read_plots`); reprojected to the
            raster CRS if needed.
        raster_path: single- or multi-band GeoTIFF (or any GDAL raster).
        band: 1-based band -> unprefixed columns (``mean``); a list of bands, or None for all
            bands -> columns prefixed per band (``b1_mean``, ``b2_mean``...).
        stats, percentiles, categorical, exact: as in :func:`zonal_stats_array`.
        nodata: overrides the raster's nodata value (None: use the file's, per band).
        zero_is_nodata: also exclude zeros (NEON's CHM tutorial drops 0 m "no canopy" pixels).
        id_column: plot id column, used in log messages (default: the row index).
        window_size: tile size (pixels) used to group plots into windows.

    Returns:
        A copy of ``plots_gdf`` (geometry in the raster CRS) with one column per statistic:
        int64 ``count`` (float in exact mode) and ``unique``, 0 for plots without a valid
        pixel; float64 elsewhere, NaN for those plots.

    Raises:
        InputDataError: raster missing/unreadable, plots without CRS, a statistic column that
            would overwrite an input column.
        ConfigError: unknown statistic or band.
    """
    import rasterio
    from rasterio.errors import RasterioIOError
    from rasterio.windows import Window

    names = parse_stats(stats, percentiles)
    raster_path = Path(raster_path)
    if plots_gdf.crs is None:
        raise InputDataError(
            "Plots have no CRS; read them with aopflow.zonal.read_plots (which sets it) or set "
            "zonal.plots_crs."
        )
    try:
        src = rasterio.open(raster_path)
    except RasterioIOError as err:
        raise InputDataError(f"Cannot open raster {raster_path}: {err}") from err
    with src:
        if isinstance(band, (int, np.integer)):
            bands, prefixed = [int(band)], False
        else:
            bands, prefixed = (list(range(1, src.count + 1)) if band is None
                               else [int(b) for b in band]), True
        bad = [b for b in bands if not 1 <= b <= src.count]
        if bad:
            raise ConfigError(
                f"Band(s) {bad} in zonal.band do not exist in {raster_path}, which has "
                f"{src.count} band(s) (1-based)."
            )
        if src.crs is None:
            raise InputDataError(f"Raster {raster_path} has no CRS; cannot place the plots on it.")
        gdf = plots_gdf
        if gdf.crs != src.crs:
            log.info("Reprojecting plots from %s to the CRS of %s.", gdf.crs.to_string(),
                     raster_path)
            gdf = gdf.to_crs(src.crs)
        geoms = as_geometry_array(gdf.geometry)
        check_polygons(geoms)
        nodatas = [nodata if nodata is not None else src.nodatavals[b - 1] for b in bands]
        itemsize = max(np.dtype(src.dtypes[b - 1]).itemsize for b in bands)

        def read(window: tuple[int, int, int, int], positions: list[int]) -> np.ndarray:
            r0, r1, c0, c1 = window
            return src.read([bands[k] for k in positions],
                            window=Window(c0, r0, c1 - c0, r1 - r0))

        per_band, class_w, totals, _ = stats_by_window(
            geoms, src.transform, src.shape, read, nodatas, names, categorical=categorical,
            exact=exact, zero_is_nodata=zero_is_nodata, window_size=window_size,
            itemsize=itemsize)
        labels = (gdf[id_column].tolist() if id_column is not None and id_column in gdf.columns
                  else gdf.index.tolist())

        out = gdf.copy()
        new_cols: dict[str, np.ndarray] = {}
        for k, b in enumerate(bands):
            cols = assemble_columns(per_band[k], class_w[k] if categorical else None, totals[k])
            prefix = f"b{b}_" if prefixed else ""
            empty = ~(totals[k] > 0)
            for name, values in cols.items():
                values = np.asarray(values, dtype=np.float64).copy()
                values[empty] = 0 if name in ("count", "unique") else np.nan
                if name == "unique" or (name == "count" and not exact):
                    values = values.astype(np.int64)
                new_cols[prefix + name] = values
            where = f"{raster_path} band {b}" if len(bands) > 1 else str(raster_path)
            warn_empty(totals[k], labels, where)
    clash = [c for c in new_cols if c in out.columns]
    if clash:
        raise InputDataError(
            f"Plot columns {clash} would be overwritten by zonal statistics of {raster_path}; "
            f"rename them in the plots file."
        )
    for name, values in new_cols.items():
        out[name] = values
    return out


def plot_arrays_file(
    plots_gdf,
    raster_path: str | os.PathLike,
    *,
    id_column: str,
    band: int = 1,
    nodata: float | None = None,
    zero_is_nodata: bool = False,
) -> dict[str, np.ma.MaskedArray]:
    """Per-plot masked value arrays (pixel-centre rule) of one band, keyed by plot id (str).

    Each array covers the plot's bounding box (clipped to the raster) and is masked outside the
    plot and on nodata/NaN, like ``rasterstats``' ``raster_out``. Reads one small window per
    plot, so it suits tens to thousands of plots; for figures and QA, not for statistics.
    """
    import rasterio
    from rasterio.windows import Window

    if id_column not in plots_gdf.columns:
        raise InputDataError(
            f"Plots have no id column {id_column!r}; columns are "
            f"{[c for c in plots_gdf.columns if c != 'geometry']}. Set zonal.id_column."
        )
    out: dict[str, np.ma.MaskedArray] = {}
    with rasterio.open(raster_path) as src:
        gdf = plots_gdf.to_crs(src.crs) if plots_gdf.crs != src.crs else plots_gdf
        geoms = as_geometry_array(gdf.geometry)
        check_polygons(geoms)
        nd = nodata if nodata is not None else src.nodatavals[band - 1]
        ids = gdf[id_column].astype(str).tolist()
        windows = dict(
            (int(i), w) for w, idx in plot_windows(geoms, src.transform, src.shape, 1)
            for i in idx)
        for i, pid in enumerate(ids):
            if i not in windows:
                out[pid] = np.ma.MaskedArray(np.zeros((0, 0), dtype=src.dtypes[band - 1]))
                continue
            r0, r1, c0, c1 = windows[i]
            win = Window(c0, r0, c1 - c0, r1 - r0)
            arr = src.read(band, window=win)
            ndi = nd
            if zero_is_nodata:
                arr, ndi = zero_to_nodata(arr, nd)
            wtransform = src.transform @ Affine.translation(c0, r0)
            rec = zonal_stats_array(geoms[i:i + 1], arr, wtransform, nodata=ndi,
                                    stats=["count"], raster_out=True)[0]
            out[pid] = rec["mini_raster_array"]
    return out


def write_zonal(gdf, gpkg_path: str | os.PathLike, csv_path: str | os.PathLike, *,
                layer: str = "zonal") -> None:
    """Write zonal results atomically: a GeoPackage (plot polygons + all columns) and a CSV
    (same columns, no geometry)."""
    import pyogrio

    with atomic_path(gpkg_path) as tmp:
        # mkstemp made an empty file; GDAL refuses to "overwrite" a 0-byte non-GeoPackage.
        tmp.unlink()
        pyogrio.write_dataframe(gdf, tmp, layer=layer, driver="GPKG")
    table = gdf.drop(columns=gdf.geometry.name)
    with atomic_path(csv_path) as tmp:
        table.to_csv(tmp, index=False)


def write_plot_arrays(path: str | os.PathLike, arrays: Mapping[Any, np.ndarray]) -> None:
    """Write per-plot value arrays to a compressed ``.npz``, one entry per plot id (as str).

    Masked arrays (from ``raster_out``/:func:`plot_arrays_file`) are stored as floating-point
    arrays with NaN at masked cells (integer rasters become float64, exact for |v| < 2**53);
    read back with ``np.load(path)[plot_id]``.
    """
    payload: dict[str, np.ndarray] = {}
    for key, arr in arrays.items():
        name = str(key)
        if name in payload:
            raise InputDataError(f"Plot id {name!r} appears twice in the arrays for {path}.")
        if isinstance(arr, np.ma.MaskedArray):
            data = arr.data
            dtype = data.dtype if np.issubdtype(data.dtype, np.floating) else np.float64
            filled = data.astype(dtype, copy=True)
            filled[np.ma.getmaskarray(arr)] = np.nan
            payload[name] = filled
        else:
            payload[name] = np.asarray(arr)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **payload)
