"""Workflow-facing steps of ``source: neon``: list a site's tiles, then fetch one tile per job."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aopflow.errors import ConfigError, InputDataError
from aopflow.neon.api import (
    NeonClient,
    check_size,
    fetch_tile,
    list_tiles,
    read_tile_listing,
    write_tile_listing,
)

log = logging.getLogger(__name__)


def plot_points(path: str | os.PathLike) -> tuple[list[tuple[float, float]], str]:
    """Plot centres (x, y) in a projected (UTM) CRS from a vector file, and that CRS.

    Points in a geographic CRS (e.g. NEON's plot shapefiles in WGS84) are projected to the
    UTM zone that contains them (NEON tiles are in the site's UTM zone).
    """
    import geopandas as gpd

    try:
        gdf = gpd.read_file(path)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad input file
        raise InputDataError(f"neon.tiles.around_plots.path: cannot read {path}: {exc}") from exc
    if gdf.empty:
        raise InputDataError(f"neon.tiles.around_plots.path: {path} has no features")
    if gdf.crs is None:
        raise InputDataError(f"neon.tiles.around_plots.path: {path} has no CRS; save it with one.")
    if gdf.crs.is_geographic:
        gdf = gdf.to_crs(gdf.estimate_utm_crs())
    pts = gdf.geometry.centroid
    return [(float(p.x), float(p.y)) for p in pts], gdf.crs.to_string()


def _selection(tiles: Any) -> Any:
    if isinstance(tiles, Mapping) and "around_plots" in tiles:
        ap = tiles["around_plots"]
        points, crs = plot_points(ap["path"])
        log.info("around_plots: %d plot centres in %s, buffer %s m", len(points), crs, ap.get("buffer_m", 0))
        return {"around_plots": {"points": points, "buffer_m": float(ap.get("buffer_m", 0))}}
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
    """List the site's tiles with the NEON Data API, check the size guard, write ``tiles.csv``.

    Nothing is downloaded here; when the selection exceeds ``max_download_gb`` this stops before
    any download with the total size and the key to raise.
    """
    with NeonClient.from_env(api_url) as client:
        files = list_tiles(client, product=product, site=site, year=year, tiles=_selection(tiles),
                           include_provisional=include_provisional)
    if subset not in (None, "all"):
        missing = sorted(set(subset) - {f.tile for f in files})
        if missing:
            raise ConfigError(f"tiles: {missing} are not among the listed tiles {[f.tile for f in files]}")
        files = [f for f in files if f.tile in set(subset)]
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
