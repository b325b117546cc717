"""Grids of the demo: a scene's 10 m grid, the site's grid, and MGRS tile names.

The AOP demo site lies on UTM zone 11's central meridian, so no real tile of a neighbouring
zone reaches it. A scene in a neighbouring zone is synthetic: it is laid out on that zone's
10 m grid (edges on multiples of 20 m, like real tiles) around the site's projected position,
its pixel centres are mapped back to the site CRS (:func:`to_site`) to evaluate the same
landscape, and its MGRS grid square letters continue the MGRS letter sequence beyond the
zone's usual easting range (:func:`mgrs_tile`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from affine import Affine
from pyproj import Transformer

from aopflow.demo.aop import SiteSpec


@dataclass(frozen=True)
class SceneGrid:
    """A scene's 10 m grid: upper-left corner (x0, y0), size; SCL uses the same corner at 20 m."""

    epsg: int
    x0: float
    y0: float
    width: int
    height: int

    def transform(self, res: float = 10.0) -> Affine:
        return Affine(res, 0.0, self.x0, 0.0, -res, self.y0)

    def centres(self, res: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
        k = int(round(res / 10.0))
        xs = self.x0 + (np.arange(self.width // k) + 0.5) * res
        ys = self.y0 - (np.arange(self.height // k) + 0.5) * res
        return np.meshgrid(xs, ys)


def site_bounds(spec: SiteSpec) -> tuple[float, float, float, float]:
    e0, n0 = spec.origin
    return float(e0), float(n0), e0 + 1000.0 * spec.shape[0], n0 + 1000.0 * spec.shape[1]


def scene_grid(aop: SiteSpec, epsg: int, margin: float) -> SceneGrid:
    xmin, ymin, xmax, ymax = site_bounds(aop)
    if epsg != aop.epsg:
        t = Transformer.from_crs(aop.epsg, epsg, always_xy=True)
        xmin, ymin, xmax, ymax = t.transform_bounds(xmin, ymin, xmax, ymax, densify_pts=21)
    x0 = np.floor((xmin - margin) / 20.0) * 20.0
    x1 = np.ceil((xmax + margin) / 20.0) * 20.0
    y0 = np.floor((ymin - margin) / 20.0) * 20.0
    y1 = np.ceil((ymax + margin) / 20.0) * 20.0
    return SceneGrid(epsg, float(x0), float(y1), int(round((x1 - x0) / 10)), int(round((y1 - y0) / 10)))


_LAT_BANDS = "CDEFGHJKLMNPQRSTUVWX"
_COL_SETS = ("STUVWXYZ", "ABCDEFGH", "JKLMNPQR")  # by zone % 3
_ROW_LETTERS = "ABCDEFGHJKLMNPQRSTUV"


def mgrs_tile(zone: int, lat: float, easting: float, northing: float) -> tuple[str, str]:
    """(latitude band, grid square) of the MGRS 100 km square holding a UTM point.

    Column letters continue cyclically beyond the zone's usual 100-900 km easting range
    (synthetic neighbouring-zone scenes of the demo).
    """
    band = _LAT_BANDS[int(np.clip((lat + 80) // 8, 0, 19))]
    col = int(easting // 100000)
    col_letter = _COL_SETS[zone % 3][(col - 1) % 8]
    row = int(northing // 100000) + (5 if zone % 2 == 0 else 0)
    return band, col_letter + _ROW_LETTERS[row % 20]


def site_grid(aop: SiteSpec, res: float) -> tuple[Affine, int, int]:
    xmin, ymin, xmax, ymax = site_bounds(aop)
    return (Affine(res, 0, xmin, 0, -res, ymax), int(round((xmax - xmin) / res)),
            int(round((ymax - ymin) / res)))


def to_site(aop: SiteSpec, grid: SceneGrid, x: np.ndarray, y: np.ndarray):
    if grid.epsg == aop.epsg:
        return x, y
    t = Transformer.from_crs(grid.epsg, aop.epsg, always_xy=True)
    return t.transform(x, y)
