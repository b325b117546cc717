"""The Sentinel-2 site grid: the pixel grid every per-date product is loaded onto.

The grid is in the site's CRS (the AOP tiles' UTM zone), at ``resolution`` metres, and its
edges lie on multiples of ``resolution`` in that CRS. Because ``resolution`` divides 1000 m and
is a whole number of AOP pixels, every 1 km AOP tile edge is a grid line and each Sentinel-2
pixel covers a whole block of ``(resolution / aop_pixel)**2`` AOP pixels (no partial pixels),
which is what a block mean of the AOP NDVI mosaic onto this grid needs.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from affine import Affine

from aopflow.errors import ConfigError, SiteError

TILE_SIZE_M = 1000  # NEON AOP tiles are 1 km squares on a 1 km grid


@dataclass(frozen=True)
class SiteGrid:
    """A north-up pixel grid: ``crs`` (e.g. "EPSG:32611"), ``transform`` (pixel -> CRS metres,
    upper-left corner origin), ``width`` x ``height`` pixels of ``resolution`` metres."""

    crs: str
    transform: Affine
    width: int
    height: int
    resolution: float

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in CRS metres."""
        left, top = self.transform.c, self.transform.f
        return (left, top - self.height * self.resolution, left + self.width * self.resolution, top)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols)."""
        return (self.height, self.width)

    @property
    def epsg(self) -> int:
        return int(self.crs.split(":")[1])

    def geobox(self):
        """The grid as an ``odc.geo.geobox.GeoBox`` (what ``odc.stac.load(geobox=...)`` takes)."""
        from odc.geo.geobox import GeoBox

        return GeoBox((self.height, self.width), self.transform, self.crs)

    def bounds_4326(self, densify: int = 21) -> tuple[float, float, float, float]:
        """Lon/lat bounding box of the grid (edges densified, so the box contains the area)."""
        from pyproj import Transformer

        left, bottom, right, top = self.bounds
        tr = Transformer.from_crs(self.crs, "EPSG:4326", always_xy=True)
        return tuple(tr.transform_bounds(left, bottom, right, top, densify_pts=densify))

    def centre_lonlat(self) -> tuple[float, float]:
        from pyproj import Transformer

        left, bottom, right, top = self.bounds
        tr = Transformer.from_crs(self.crs, "EPSG:4326", always_xy=True)
        lon, lat = tr.transform((left + right) / 2, (bottom + top) / 2)
        return float(lon), float(lat)

    def to_dict(self) -> dict:
        left, bottom, right, top = self.bounds
        return {"crs": self.crs, "resolution": self.resolution, "left": left, "bottom": bottom,
                "right": right, "top": top, "width": self.width, "height": self.height}

    @classmethod
    def from_bounds(cls, crs: str | int, bounds: Sequence[float], resolution: float) -> SiteGrid:
        """Grid covering ``bounds`` (left, bottom, right, top), edges snapped outwards to multiples
        of ``resolution``."""
        left, bottom, right, top = snap_out(bounds, resolution)
        width = round((right - left) / resolution)
        height = round((top - bottom) / resolution)
        crs = f"EPSG:{crs}" if isinstance(crs, int) or str(crs).isdigit() else str(crs).upper()
        return cls(crs, Affine(resolution, 0.0, left, 0.0, -resolution, top), width, height, float(resolution))

    @classmethod
    def from_dict(cls, d: dict) -> SiteGrid:
        return cls.from_bounds(d["crs"], (d["left"], d["bottom"], d["right"], d["top"]), d["resolution"])

    def write(self, path: str | os.PathLike) -> Path:
        from aopflow.io import atomic_path

        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        return Path(path)

    @classmethod
    def read(cls, path: str | os.PathLike) -> SiteGrid:
        return cls.from_dict(json.loads(Path(path).read_text()))


def snap_out(bounds: Sequence[float], resolution: float) -> tuple[float, float, float, float]:
    """Expand (left, bottom, right, top) outwards to the nearest multiples of ``resolution``.

    A tolerance of 1e-6 pixel keeps bounds that are already on the grid (up to float noise)
    where they are instead of growing them by a pixel.
    """
    left, bottom, right, top = (float(v) for v in bounds)
    eps = 1e-6
    def down(v):
        return math.floor(v / resolution + eps) * resolution
    def up(v):
        return math.ceil(v / resolution - eps) * resolution
    return (down(left), down(bottom), up(right), up(top))


def check_resolution(resolution: float, aop_pixel_size: float | None = None) -> None:
    """``sentinel2.resolution`` must divide 1000 m and be a whole number of AOP pixels."""
    if resolution <= 0 or abs(TILE_SIZE_M / resolution - round(TILE_SIZE_M / resolution)) > 1e-9:
        raise ConfigError(
            f"sentinel2.resolution: {resolution} m does not divide the 1000 m AOP tile; use a divisor "
            "of 1000 such as 10, 20, 25, 50 or 100."
        )
    if aop_pixel_size:
        ratio = resolution / aop_pixel_size
        if ratio < 1 - 1e-9 or abs(ratio - round(ratio)) > 1e-6:
            raise ConfigError(
                f"sentinel2.resolution: {resolution} m is not a whole number of AOP pixels "
                f"({aop_pixel_size} m); use a multiple of {aop_pixel_size} m that divides 1000."
            )


def tiles_bounds(tiles_csv: str | os.PathLike, epsg: int | None = None) -> tuple[int, tuple[float, float, float, float]]:
    """EPSG code and union bounds of the tiles listed in ``tiles.csv``.

    A listing with ``epsg,left,bottom,right,top`` columns (sources demo and local) gives both;
    a NEON listing (no bounds) gives 1 km cells from the tile ids ``EASTING_NORTHING`` and
    needs ``epsg`` from elsewhere (a tile's metadata).
    """
    with open(tiles_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise SiteError(f"{tiles_csv}: no tiles listed; the Sentinel-2 site grid needs the site's tiles.")
    cols = set(rows[0])
    if {"left", "bottom", "right", "top"} <= cols:
        boxes = [tuple(float(r[k]) for k in ("left", "bottom", "right", "top")) for r in rows]
    else:
        boxes = []
        for r in rows:
            e, n = (int(v) for v in r["tile"].split("_"))
            boxes.append((e, n, e + TILE_SIZE_M, n + TILE_SIZE_M))
    if "epsg" in cols and rows[0]["epsg"]:
        epsgs = {int(r["epsg"]) for r in rows}
        if len(epsgs) > 1:
            raise SiteError(f"{tiles_csv}: tiles in several CRSs {sorted(epsgs)}; a site has one.")
        epsg = epsgs.pop()
    if epsg is None:
        raise SiteError(f"{tiles_csv}: no 'epsg' column; give the site's EPSG code.")
    union = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
    return int(epsg), union


def site_grid(
    tiles_csv: str | os.PathLike,
    resolution: float,
    *,
    area="site",
    plots_bounds: Sequence[float] | None = None,
    plots_buffer_m: float = 100.0,
    epsg: int | None = None,
    aop_pixel_size: float | None = None,
) -> SiteGrid:
    """The grid of ``sentinel2.area`` on the site's CRS at ``resolution`` metres.

    ``area``: ``"site"`` (union of the AOP tiles' 1 km cells), ``"plots"`` (``plots_bounds`` in the site CRS
    grown by ``plots_buffer_m``) or ``[xmin, ymin, xmax, ymax]`` in the site CRS; edges are
    snapped outwards to multiples of ``resolution`` (so they stay on the site grid's lines).
    """
    check_resolution(resolution, aop_pixel_size)
    crs_epsg, site_bounds = tiles_bounds(tiles_csv, epsg)
    if area == "site":
        # The tiles' 1 km cells: the grid's edges are 1 km tile lines (tiles smaller than their
        # cell, as in small demo sites, still give whole cells).
        bounds = snap_out(site_bounds, TILE_SIZE_M)
    elif area == "plots":
        if plots_bounds is None:
            raise ConfigError("sentinel2.area is 'plots' but no plots are configured (zonal.plots); "
                              "set zonal.plots or use area: site.")
        b = plots_buffer_m
        bounds = (plots_bounds[0] - b, plots_bounds[1] - b, plots_bounds[2] + b, plots_bounds[3] + b)
    else:
        bounds = tuple(float(v) for v in area)
        if not (bounds[0] < bounds[2] and bounds[1] < bounds[3]):
            raise ConfigError(f"sentinel2.area: {list(area)} is not [xmin, ymin, xmax, ymax] with xmin < xmax "
                              "and ymin < ymax (site CRS metres).")
    # An area far from the site is almost certainly a CRS mix-up (lon/lat given instead of metres).
    if bounds[2] <= site_bounds[0] - 50_000 or bounds[0] >= site_bounds[2] + 50_000 \
            or bounds[3] <= site_bounds[1] - 50_000 or bounds[1] >= site_bounds[3] + 50_000:
        raise ConfigError(
            f"sentinel2.area: {list(bounds)} is more than 50 km from the site's tiles {list(site_bounds)} "
            f"(EPSG:{crs_epsg}); give the bounds in the site CRS (metres)."
        )
    return SiteGrid.from_bounds(crs_epsg, bounds, resolution)
