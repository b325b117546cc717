"""One generated scene: scene classification (SCL), clouds, swath edge, DN bands, footprint.

Scene classification (SCL, 20 m)
    Background classes from the dominant material of each 20 m pixel (vegetation 4; soil,
    built, dry vegetation 5 "not vegetated"; water 6). Clouds from a smooth random field
    thresholded to the scene's ``cloud_fraction`` of its valid area (top 40 %: 9 high
    probability, next 40 %: 8 medium, last 20 %: 10 thin cirrus); cloud shadows (3) are the
    clouds displaced 300 m to the north-west; a slanted no-data swath edge (0) where all bands
    are 0 too; optionally a few saturated/defective pixels (1, bands at 65535). The 10 m bands
    see the 20 m SCL: cloud pixels are bright, cirrus brightened, shadows darkened.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pyproj import Transformer

from aopflow.demo.aop import SiteSpec
from aopflow.demo.sentinel2.bands import BAND_KEYS, spectra_on
from aopflow.demo.sentinel2.encoding import encode_dn
from aopflow.demo.sentinel2.grid import SceneGrid, mgrs_tile, scene_grid, site_bounds, to_site
from aopflow.demo.sentinel2.landscape import bump_field, landscape
from aopflow.demo.sentinel2.spec import S2DemoSpec, S2Scene


DEFAULT_MASK_CLASSES: tuple[int, ...] = (0, 1, 3, 8, 9, 10)
SCL_CLASSES = {
    0: "no data", 1: "saturated or defective", 2: "dark area pixels", 3: "cloud shadows",
    4: "vegetation", 5: "not vegetated", 6: "water", 7: "unclassified",
    8: "cloud medium probability", 9: "cloud high probability", 10: "thin cirrus", 11: "snow",
}
#: SCL background class of each material when it is the dominant one.
MATERIAL_SCL = {"vegetation": 4, "soil": 5, "built": 5, "dry_vegetation": 5, "water": 6}
_SWATH_SLOPE = 0.1  # metres of easting per metre of northing: a slightly slanted swath edge


@dataclass
class GeneratedScene:
    scene: S2Scene
    item_id: str
    grid: SceneGrid
    dn: dict[str, np.ndarray]  # asset -> uint16 (height, width)
    scl: np.ndarray  # uint8 (height/2, width/2)
    offset: float  # the DNs' true encoding offset (the truth decodes with it)
    mgrs: tuple[int, str, str]
    footprint: list[tuple[float, float]] = field(default_factory=list)  # lon, lat ring


def _cloud_classes(spec: S2DemoSpec, aop: SiteSpec, s: S2Scene, grid: SceneGrid, valid: np.ndarray,
                   xs: np.ndarray, ys: np.ndarray, k: int) -> np.ndarray:
    """SCL cloud codes (0 = clear, 8, 9, 10) on the 20 m grid; ``xs, ys`` site-CRS centres."""
    codes = np.zeros(valid.shape, dtype=np.uint8)
    f_target = s.cloud_fraction
    if f_target <= 0:
        return codes
    rng = np.random.default_rng([spec.seed, s.day.toordinal(), k, 21])
    sx0, sy0, sx1, sy1 = site_bounds(aop)
    ex0, ey0, ex1, ey1 = float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())
    n = 14
    if s.clouds_over_site:
        cx = rng.uniform(sx0 + 500, sx1 - 500, n)
        cy = rng.uniform(sy0 + 300, sy1 - 300, n)
        width = 900.0
    else:
        # A few clouds always touch the site (masking is then visible there), the rest anywhere.
        m = n // 4
        cx = np.r_[rng.uniform(sx0, sx1, m), rng.uniform(ex0, ex1, n - m)]
        cy = np.r_[rng.uniform(sy0, sy1, m), rng.uniform(ey0, ey1, n - m)]
        width = 350.0
    f = bump_field(rng, xs, ys, cx, cy, width)
    # Ragged cloud edges: many small bumps on top (smooth, so no speckle at low thresholds).
    fx = rng.uniform(ex0, ex1, 60)
    fy = rng.uniform(ey0, ey1, 60)
    f += 0.25 * bump_field(rng, xs, ys, fx, fy, 150.0)
    fv = f[valid]
    t_all, t_cloud, t_high = np.quantile(fv, [1 - f_target, 1 - 0.8 * f_target, 1 - 0.4 * f_target])
    codes[(f > t_all) & valid] = 10
    codes[(f > t_cloud) & valid] = 8
    codes[(f > t_high) & valid] = 9
    return codes


def make_scene(spec: S2DemoSpec, aop: SiteSpec, s: S2Scene, k: int, cache: dict) -> GeneratedScene:
    site_zone = aop.epsg % 100
    zone = site_zone if s.zone is None else (site_zone + s.zone if abs(s.zone) == 1 else s.zone)
    epsg = (aop.epsg // 100) * 100 + zone
    grid = scene_grid(aop, epsg, spec.margin_m)
    if epsg not in cache:
        X, Y = grid.centres(10.0)
        xs, ys = to_site(aop, grid, X, Y)
        # Background extent from the site (not the scene), so every zone sees one landscape.
        sx0, sy0, sx1, sy1 = site_bounds(aop)
        pad = spec.margin_m + 1000.0
        ab = landscape(aop, xs, ys, spec.seed, (sx0 - pad, sy0 - pad, sx1 + pad, sy1 + pad))
        X2, Y2 = grid.centres(20.0)
        xs2, ys2 = to_site(aop, grid, X2, Y2)
        h2, w2 = X2.shape
        ab20 = ab.reshape(h2, 2, w2, 2, -1).mean(axis=(1, 3))
        lut = np.array([MATERIAL_SCL[m] for m in aop.materials], dtype=np.uint8)
        cache[epsg] = (ab, lut[np.argmax(ab20, axis=-1)], xs2, ys2)
    ab, base_scl, xs2, ys2 = cache[epsg]
    h2, w2 = base_scl.shape

    # No-data swath edge (20 m, defined in the site CRS so it is the same line in any zone).
    sx0, sy0, sx1, _ = site_bounds(aop)
    side, pos = s.swath
    edge = sx0 + pos * (sx1 - sx0) + _SWATH_SLOPE * (ys2 - sy0)
    if side == "east":
        valid = xs2 <= edge
    elif side == "west":
        valid = xs2 >= edge
    else:
        valid = np.ones((h2, w2), bool)

    scl = base_scl.copy()
    clouds = _cloud_classes(spec, aop, s, grid, valid, xs2, ys2, k)
    opaque = (clouds == 8) | (clouds == 9)
    shadow = np.zeros_like(opaque)
    d = 25  # 500 m at 20 m: shadows north-west of their clouds (sun in the south-east)
    shadow[:-d, :-d] = opaque[d:, d:]
    shadow &= valid & (clouds == 0)
    scl[shadow] = 3
    scl[clouds > 0] = clouds[clouds > 0]
    if s.defective:
        rng = np.random.default_rng([spec.seed, s.day.toordinal(), k, 31])
        idx = rng.choice(h2 * w2, size=max(4, h2 * w2 // 2000), replace=False)
        scl.flat[idx] = 1
    scl[~valid] = 0

    # Reflectance at 10 m from the abundances and the date's spectra, then what SCL says.
    E = spectra_on(aop.materials, s.day).astype(np.float32)
    refl = ab @ E  # (h, w, 4)
    rng = np.random.default_rng([spec.seed, s.day.toordinal(), k, 41])
    refl += rng.standard_normal(refl.shape, dtype=np.float32) * np.float32(spec.noise)
    scl10 = np.repeat(np.repeat(scl, 2, axis=0), 2, axis=1)
    cl10 = np.repeat(np.repeat(clouds, 2, axis=0), 2, axis=1)
    thick = (scl10 == 8) | (scl10 == 9)
    bright = np.float32(0.35) + np.float32(0.25) * rng.random(thick.sum(), dtype=np.float32)
    refl[thick] = bright[:, None] * np.array([1.0, 0.98, 0.97, 0.95], np.float32)
    refl[cl10 == 10] += np.float32(0.06)
    refl[scl10 == 3] *= np.float32(0.35)
    offset = s.encoding_offset
    valid10 = scl10 != 0
    dn = {}
    for b, key in enumerate(BAND_KEYS):
        v = encode_dn(refl[..., b], offset, valid10)
        v[scl10 == 1] = 65535
        dn[key] = v

    lat_t = Transformer.from_crs(epsg, 4326, always_xy=True)
    cx, cy = grid.x0 + grid.width * 5.0, grid.y0 - grid.height * 5.0
    lon, lat = lat_t.transform(cx, cy)
    # The real tile holding the scene: tiles span 109.8 km from (square west - 40 m, square top).
    band, square = mgrs_tile(zone, lat, np.floor((grid.x0 + 40.0) / 1e5) * 1e5,
                             (np.ceil(grid.y0 / 1e5) - 1) * 1e5)
    sat = "S2A" if s.platform.endswith("2a") else ("S2B" if s.platform.endswith("2b") else "S2C")
    item_id = f"{sat}_{zone}{band}{square}_{s.day:%Y%m%d}_0_L2A"
    ring = footprint(aop, grid, s, lat_t)
    return GeneratedScene(s, item_id, grid, dn, scl, offset, (zone, band, square), ring)


def footprint(aop: SiteSpec, grid: SceneGrid, s: S2Scene, to_ll: Transformer) -> list:
    """Valid-data footprint ring (lon, lat): the scene rectangle cut by the swath edge."""
    from shapely.geometry import Polygon, box

    x0, y1 = grid.x0, grid.y0
    x1, y0 = x0 + grid.width * 10.0, y1 - grid.height * 10.0
    rect = box(x0, y0, x1, y1)
    side, pos = s.swath
    if side != "none":
        # The swath line in the site CRS, far beyond the scene, then into the scene's CRS.
        sx0, sy0, sx1, _ = site_bounds(aop)
        ys = np.array([sy0 - 1e5, sy0 + 1e5])
        xs = sx0 + pos * (sx1 - sx0) + _SWATH_SLOPE * (ys - sy0)
        far = 1e5 if side == "west" else -1e5
        poly_site = [(xs[0], ys[0]), (xs[1], ys[1]), (xs[1] + far, ys[1]), (xs[0] + far, ys[0])]
        if grid.epsg != aop.epsg:
            t = Transformer.from_crs(aop.epsg, grid.epsg, always_xy=True)
            dens = []
            for (ax, ay), (bx, by) in zip(poly_site, poly_site[1:] + poly_site[:1]):
                for f in np.linspace(0, 1, 50, endpoint=False):
                    dens.append(t.transform(ax + f * (bx - ax), ay + f * (by - ay)))
            poly_site = dens
        rect = rect.intersection(Polygon(poly_site))
    rect = rect.simplify(1.0)
    return [tuple(round(v, 9) for v in to_ll.transform(x, y)) for x, y in rect.exterior.coords]
