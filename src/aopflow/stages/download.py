"""Stage `download` (rules/download.smk), ``source: neon``: list a site's tiles of one NEON
product (reflectance or CHM), then fetch one tile per job.

The HTTP client, the listing, the tile selection and the download state machine are in
:mod:`aopflow.neon` (``client``, ``listing``, ``selection``, ``download``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aopflow.errors import ConfigError
from aopflow.neon.client import NeonClient
from aopflow.neon.download import fetch_tile
from aopflow.neon.listing import check_size, list_tiles, read_tile_listing, write_tile_listing
from aopflow.neon.selection import select_subset
from aopflow.zonal.plots import AROUND_PLOTS_KEYS, load_plots

log = logging.getLogger(__name__)


def plot_points(
    path: str | os.PathLike,
    *,
    plots_crs: str | None = None,
    x_column: str = "x",
    y_column: str = "y",
) -> tuple[list[tuple[float, float]], str]:
    """Plot centres (x, y) in a projected (UTM) CRS from a plots file, and that CRS.

    The file is read as zonal statistics read plots (:func:`aopflow.zonal.load_plots`): a
    GeoPackage, Shapefile, GeoJSON, or a CSV of ``x_column``/``y_column`` in ``plots_crs``.
    Points in a geographic CRS (e.g. NEON's plot shapefiles in WGS84) are projected to the
    UTM zone that contains them (NEON tiles are in the site's UTM zone).
    """
    gdf = load_plots(path, id_column=None, crs=plots_crs, x_column=x_column, y_column=y_column,
                     keys=AROUND_PLOTS_KEYS)
    if gdf.crs.is_geographic:
        gdf = gdf.to_crs(gdf.estimate_utm_crs())
    pts = gdf.geometry.centroid
    return [(float(p.x), float(p.y)) for p in pts], gdf.crs.to_string()


def _selection(tiles: Any) -> Any:
    """``neon.tiles`` with an ``around_plots.path`` replaced by the plots' centre points."""
    if isinstance(tiles, Mapping) and "around_plots" in tiles:
        ap = tiles["around_plots"]
        points, crs = plot_points(ap["path"], plots_crs=ap.get("plots_crs"),
                                  x_column=ap.get("x_column", "x"), y_column=ap.get("y_column", "y"))
        buffer_m = float(ap.get("buffer_m", 0))
        log.info("around_plots: %d plot centres in %s, buffer %s m", len(points), crs, buffer_m)
        return {"around_plots": {"points": points, "buffer_m": buffer_m}}
    return tiles


def neon_listing(
    csv_path: str | os.PathLike,
    *,
    api_url: str,
    product: str,
    site: str,
    year: int,
    tiles: Any = "all",
    include_provisional: bool = False,
    max_download_gb: float | None = None,
    subset: Any = "all",
) -> Path:
    """List the site's tiles with the NEON Data API, check the size guard, write the listing.

    ``tiles`` is ``neon.tiles`` (what to ask NEON for), ``subset`` the ``tiles`` key (which of
    the listed tiles to process), applied here once: the listing holds exactly the tiles the
    workflow processes, so the size guard counts what will be downloaded. Nothing is downloaded
    here; when the selection exceeds ``max_download_gb`` this stops before any download with
    the total size and the key to raise.
    """
    with NeonClient.from_env(api_url) as client:
        files = list_tiles(client, product=product, site=site, year=year, tiles=_selection(tiles),
                           include_provisional=include_provisional)
    by_tile = {f.tile: f for f in files}
    files = [by_tile[t] for t in select_subset(list(by_tile), subset)]
    if max_download_gb is not None:
        total = check_size(files, max_download_gb)
        log.info("%d tiles, %.2f GB to download at most", len(files), total / 1e9)
    return write_tile_listing(files, csv_path)


def download_listed_tile(
    listing_csv: str | os.PathLike,
    tile_id: str,
    dest_path: str | os.PathLike,
    *,
    api_url: str,
    product: str,
    site: str,
) -> Path:
    """Download one tile named in the listing to ``dest_path`` (checked, atomic)."""
    rows = {t.tile: t for t in read_tile_listing(listing_csv)}
    if tile_id not in rows:
        raise ConfigError(f"tile {tile_id} is not in the listing {listing_csv}; re-run the listing.")
    tile = rows[tile_id]
    dest_path = Path(dest_path)
    if dest_path.name != tile.name:
        raise ConfigError(f"{dest_path}: expected the listed file name {tile.name}")
    with NeonClient.from_env(api_url) as client:
        return fetch_tile(client, tile, dest_path.parent, product=product, site=site, progress_log=log)
