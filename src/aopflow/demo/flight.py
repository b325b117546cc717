"""Flight lines, terrain and anisotropic reflectance of the .001 (directional) demo site.

A DP3.30006.001 tile is a mosaic of north-south flight lines flown at different times: each
pixel keeps the line nearest its nadir (``Data_Selection_Index``), so the view zenith grows
from 0 mid-line to about 17 degrees (NEON NIS half field of view) at the boundaries between
lines, where the sensor changes side. The generator reproduces that, site-wide (lines do not
depend on the tile), with its own sun position per line on two flight days, a smooth terrain
(slope, aspect) and reflectance made anisotropic by a known kernel model per material:

    rho_obs = sum_m a_m E_m g_m(sun, view) * (cos i + C) / (cos ts cos s + C)

with ``g_m = (1 + v_m K_vol + q_m K_geo) / (1 + v_m K_vol0 + q_m K_geo0)`` (NEON's kernels,
:mod:`aopflow.brdf.kernels`; ``K_0`` at nadir view and :data:`REFERENCE_SOLAR_ZENITH`) and the
SCS+C terrain term with C per band :func:`topo_c`. The truth is then ``sum_m a_m E_m``: the
nadir-view, flat-terrain reflectance at the reference solar zenith (the ``brdf.solar_zenith``
of the .001 demo config).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from aopflow.brdf.kernels import kernels_deg
from aopflow.brdf.topo import cos_flat, cos_incidence

#: Half field of view of the NEON imaging spectrometer (degrees): the largest view zenith.
MAX_VIEW_ZENITH = 17.0
#: Solar zenith (degrees) the demo's nadir truth is computed at (``brdf.solar_zenith`` of
#: ``config/demo_001.yaml``).
REFERENCE_SOLAR_ZENITH = 35.0
#: Per material: (f_vol / f_iso, f_geo / f_iso) of its kernel model (b/r 10, h/b 2 Li-sparse
#: kernels are about -7.5 at nadir, hence the small geometric weights).
MATERIAL_BRDF = {
    "vegetation": (0.9, 0.010),
    "soil": (0.25, 0.020),
    "water": (0.0, 0.0),
    "built": (0.0, 0.0),
    "dry_vegetation": (0.6, 0.014),
}
#: North-south lines per tile column (line spacing 1000 m / this).
LINES_PER_TILE = 3
#: Relief of the terrain (m), its bumps' width (m) and number per tile: hills finer than the
#: land cover's patches, so that slopes and cover types are not correlated over a line.
RELIEF_M = 35.0
RELIEF_SCALE_M = 90.0
RELIEF_BUMPS_PER_TILE = 30


@dataclass(frozen=True)
class DemoLine:
    """A flight line: centre easting (m), line file name, day, time, sun (degrees)."""

    x: float
    file: str
    date: str
    time: str
    solar_zenith: float
    solar_azimuth: float


def flight_lines(spec) -> tuple[list[DemoLine], float]:
    """The site's lines (:data:`LINES_PER_TILE` per tile column, west to east) and the flight
    height (m) that makes the view zenith reach :data:`MAX_VIEW_ZENITH` half-way between lines.
    Lines alternate between two flight days; west to east the sun moves from the south-east
    (morning) to the south-west (afternoon), so each day has lines on both sides of noon."""
    xmin = spec.origin[0]
    n = LINES_PER_TILE * spec.shape[0]
    spacing = spec.shape[0] * 1000.0 / n
    height = 0.5 * spacing / math.tan(math.radians(MAX_VIEW_ZENITH))
    lines = []
    for k in range(n):
        frac = k / max(n - 1, 1)
        day = f"{spec.year}06{10 + k % 2:02d}"
        time = f"{14 + k:02d}{(17 * k) % 60:02d}{(31 * k) % 60:02d}"
        sz = 26.0 + 16.0 * (2 * frac - 1) ** 2
        sa = 120.0 + 125.0 * frac
        name = f"NEON_{spec.domain}_{spec.site}_DP1_{day}_{time}_reflectance.h5"
        lines.append(DemoLine(xmin + spacing * (k + 0.5), name, day, time, sz, sa))
    return lines, height


def data_files(spec) -> list[str]:
    """The ``Data_Files`` list of every tile: all the site's lines and two lines that
    contribute no pixel, in an order unrelated to time (so index values are not in the sorted
    order of the Logs groups), as NEON lists more files than a tile's Logs hold."""
    lines, _ = flight_lines(spec)
    names = [ln.file for ln in lines]
    names += [f"NEON_{spec.domain}_{spec.site}_DP1_{spec.year}0609_{t}_reflectance.h5" for t in ("130005", "131515")]
    order = np.random.default_rng([spec.seed, 77]).permutation(len(names))
    return [names[i] for i in order]


def terrain(spec, x: np.ndarray, y: np.ndarray, bumps) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(elevation m, slope deg, aspect deg: the direction the slope faces, clockwise from
    north) of a site-wide smooth surface at map coordinates; ``bumps`` is the generator's
    site-wide Gaussian-bump field function."""
    def z(xx, yy):
        count = RELIEF_BUMPS_PER_TILE * spec.shape[0] * spec.shape[1]
        return RELIEF_M * bumps(spec, 950, count, xx, yy, scale=RELIEF_SCALE_M)

    d = 0.5
    dzdx = (z(x + d, y) - z(x - d, y)) / (2 * d)
    dzdy = (z(x, y + d) - z(x, y - d)) / (2 * d)
    slope = np.degrees(np.arctan(np.hypot(dzdx, dzdy)))
    aspect = np.mod(np.degrees(np.arctan2(-dzdx, -dzdy)), 360.0)  # downslope direction
    return z(x, y), slope, aspect


@dataclass
class PixelGeometry:
    """Per pixel ``(rows, cols)``: ``line`` (index into :func:`flight_lines`), sun, view and
    terrain angles (degrees), elevation (m)."""

    line: np.ndarray
    solar_zenith: np.ndarray
    solar_azimuth: np.ndarray
    view_zenith: np.ndarray
    view_azimuth: np.ndarray
    slope: np.ndarray
    aspect: np.ndarray
    elevation: np.ndarray


def pixel_geometry(spec, x: np.ndarray, y: np.ndarray, bumps) -> PixelGeometry:
    """Nearest-to-nadir line of each pixel and its angles. The to-sensor azimuth points from
    the pixel to the sensor: 90 (east) when the line is east of the pixel, else 270."""
    lines, height = flight_lines(spec)
    xs = np.array([ln.x for ln in lines])
    line = np.abs(x[..., None] - xs).argmin(axis=-1)
    dx = xs[line] - x
    vz = np.degrees(np.arctan(np.abs(dx) / height))
    va = np.where(dx >= 0, 90.0, 270.0)
    sz = np.array([ln.solar_zenith for ln in lines])[line]
    sa = np.array([ln.solar_azimuth for ln in lines])[line]
    elev, slope, aspect = terrain(spec, x, y, bumps)
    return PixelGeometry(line.astype(np.int32), sz, sa, vz, va, slope, aspect, elev)


def topo_c(wavelengths: np.ndarray) -> np.ndarray:
    """The demo's SCS+C C per band: larger (more diffuse light) in the blue than in the SWIR."""
    w = np.asarray(wavelengths, dtype=np.float64)
    return 0.25 + 0.9 * np.exp(-(w - 380.0) / 500.0)


def material_gains(spec, g: PixelGeometry) -> np.ndarray:
    """``g_m`` ``(rows, cols, n_materials)`` float32: each material's BRDF at the pixel's sun
    and view over its BRDF at nadir view and :data:`REFERENCE_SOLAR_ZENITH`."""
    kv, kg = kernels_deg(g.solar_zenith, g.solar_azimuth, g.view_zenith, g.view_azimuth)
    kv0, kg0 = kernels_deg(REFERENCE_SOLAR_ZENITH, 0.0, 0.0, 0.0)
    out = []
    for m in spec.materials:
        v, q = MATERIAL_BRDF[m]
        out.append((1 + v * kv + q * kg) / (1 + v * kv0 + q * kg0))
    return np.stack(out, axis=-1).astype(np.float32)


def terrain_gain(g: PixelGeometry, wavelengths: np.ndarray) -> np.ndarray:
    """``(rows, cols, bands)`` float32 SCS+C illumination term (cos i + C) / (cos ts cos s + C);
    0 for self-shadowed pixels (cos i <= 0), which then see diffuse light only (C term)."""
    ci = np.maximum(cos_incidence(g.solar_zenith, g.solar_azimuth, g.slope, g.aspect), 0.0)[..., None]
    cf = cos_flat(g.solar_zenith, g.slope)[..., None]
    c = topo_c(wavelengths)
    return ((ci + c) / (cf + c)).astype(np.float32)


def rows_of(g: PixelGeometry, r0: int, r1: int) -> PixelGeometry:
    """Rows ``r0:r1`` of a pixel geometry."""
    return PixelGeometry(*(getattr(g, f)[r0:r1] for f in PixelGeometry.__dataclass_fields__))
