"""Generate synthetic NEON-format reflectance tiles for a demo site (``source: demo``).

The files follow the real layout (``shared/NEON_FORMAT.md`` sections 1 and 5) for either product
revision: file names carry the lower-left corner, ``Map_Info`` the upper-left; all 12
``Reflectance_Data`` attributes; ``Coordinate_System``, ``Spectral_Data``, ``Ancillary_Imagery``
(14 layers for .001, 15 for .002, with each revision's names and dtypes), ``Logs`` and the
to-sensor angles.

The scene is a linear mixture of a few materials with realistic spectral shapes. Abundances are
smooth functions of *map* coordinates, so they continue across tile borders, and every material
has pure patches. Sensor noise is added, much stronger in the water-vapour windows and the last
bands; a flight-edge strip is no-data; Weather_Quality_Indicator has patches of 1, 2 and 3.
Ground truth (endmember spectra, per-tile abundances) is written beside the tiles.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import rasterio
from affine import Affine

from aopflow.demo import flight
from aopflow.errors import ConfigError
from aopflow.neon.naming import TILE_SIZE_M, format_tile_id, parse_tile_id, reflectance_file_name
from aopflow.io import atomic_path

log = logging.getLogger(__name__)

#: Anchor points (nm, reflectance) of each material's spectrum, interpolated to the band grid.
#: Shapes follow typical field/library spectra: green vegetation (chlorophyll red trough, red
#: edge, NIR plateau, SWIR water features), bare soil (monotonic rise, clay feature at 2200 nm),
#: clear water (dark, near zero beyond 900 nm), a built surface (bright, flat concrete) and
#: senescent vegetation (no red edge, cellulose/lignin feature near 2100 nm).
MATERIALS: dict[str, list[tuple[float, float]]] = {
    "vegetation": [
        (380, 0.03), (450, 0.035), (500, 0.045), (550, 0.10), (600, 0.06), (670, 0.035),
        (700, 0.10), (740, 0.35), (780, 0.46), (900, 0.48), (1100, 0.47), (1200, 0.42),
        (1300, 0.40), (1450, 0.18), (1550, 0.30), (1650, 0.32), (1800, 0.25), (1950, 0.08),
        (2100, 0.17), (2200, 0.18), (2300, 0.13), (2400, 0.09), (2520, 0.07),
    ],
    "soil": [
        (380, 0.07), (450, 0.09), (550, 0.14), (650, 0.20), (750, 0.24), (900, 0.27),
        (1100, 0.30), (1300, 0.33), (1450, 0.27), (1600, 0.36), (1800, 0.37), (1950, 0.28),
        (2100, 0.35), (2200, 0.30), (2300, 0.33), (2400, 0.31), (2520, 0.29),
    ],
    "water": [
        (380, 0.055), (450, 0.06), (500, 0.055), (550, 0.045), (600, 0.03), (700, 0.015),
        (800, 0.008), (900, 0.005), (1000, 0.003), (1300, 0.002), (2520, 0.001),
    ],
    "built": [
        (380, 0.18), (450, 0.22), (550, 0.26), (650, 0.28), (800, 0.30), (1000, 0.31),
        (1300, 0.32), (1450, 0.29), (1700, 0.33), (1950, 0.27), (2200, 0.30), (2520, 0.28),
    ],
    "dry_vegetation": [
        (380, 0.05), (450, 0.07), (550, 0.12), (650, 0.18), (700, 0.21), (800, 0.27),
        (1000, 0.32), (1200, 0.36), (1450, 0.30), (1600, 0.42), (1750, 0.43), (1950, 0.30),
        (2050, 0.36), (2100, 0.30), (2200, 0.37), (2300, 0.32), (2520, 0.24),
    ],
}

#: Domain codes written into file names (``NEON_<DOM>_<SITE>_...``).
DEFAULT_DOMAIN = "D00"

#: Ancillary layers per revision: name -> dtype (NEON_FORMAT.md table 1.5).
ANCILLARY_001 = {
    "Aerosol_Optical_Depth": "<i2", "Aspect": "<f4", "Cast_Shadow": "u1",
    "Dark_Dense_Vegetation_Classification": "u1", "Data_Selection_Index": "<i4",
    "Haze_Cloud_Water_Map": "u1", "Illumination_Factor": "u1", "Path_Length": "<f4",
    "Sky_View_Factor": "u1", "Slope": "<f4", "Smooth_Surface_Elevation": "<f4",
    "Visibility_Index_Map": "u1", "Water_Vapor_Column": "<f4", "Weather_Quality_Indicator": "u1",
}
ANCILLARY_002 = {
    "Acqusition_Date": "<i4", "Aerosol_Optical_Thickness": "<f4", "Aspect": "<f4",
    "Cast_Shadow": "<f4", "Dark_Dense_Vegetation_Classification": "u1",
    "Data_Selection_Index": "<i4", "Haze_Cloud_Water_Map": "u1", "Illumination_Factor": "<f4",
    "Path_Length": "<f4", "Sky_View_Factor": "<f4", "Slope": "<f4",
    "Smooth_Surface_Elevation": "<f4", "Visibility_Index_Map": "<f4",
    "Water_Vapor_Column": "<f4", "Weather_Quality_Indicator": "<i2",
}
#: .002 Weather_Quality_Indicator dtypes the generator writes (``SiteSpec.wqi_dtype``): a
#: signed integer 2-D layer with NEON's no-data -9999 outside flight coverage, as in the
#: tutorial's files ("No Data Value = -9999").
WQI_DTYPES = {"int16": "<i2", "int32": "<i4"}
WQI_NODATA_002 = -9999

#: Storage profiles (NEON_FORMAT.md 1.7; inferred, not verified on L3 tiles): ``legacy`` is
#: h5py's own chunk guess for a (1000, 1000, 426) int16 cube, ``band`` one band per chunk.
CHUNK_PROFILES = {"legacy": (32, 63, 27), "band": (None, None, 1)}


@dataclass(frozen=True)
class RarePatch:
    """A material made rare: its only pure pixels are a ``size`` x ``size`` square in one tile.

    The square's upper-left pixel is (``row``, ``col``) of tile ``tile`` (0-based, rows from
    the north edge). Everywhere else the material only occurs mixed, with abundance at most
    ``max_mixed`` (a pond's or a roof's shore/edge pixels), and it gets no pure discs. This
    is the case a small random pixel sample misses (issue 11).
    """

    material: str
    tile: str
    row: int = 0
    col: int = 0
    size: int = 4
    max_mixed: float = 0.9


@dataclass(frozen=True)
class SiteSpec:
    """Parameters of a synthetic site. Tiles are 1 km cells named by their lower-left corner."""

    site: str = "DEMO"
    domain: str = DEFAULT_DOMAIN
    year: int = 2024
    epsg: int = 32611
    origin: tuple[int, int] = (500000, 4100000)  # lower-left corner of the site (m)
    shape: tuple[int, int] = (3, 2)  # tiles in x, tiles in y
    pixels: int = 100  # pixels per tile side
    pixel_size: float = 10.0  # metres
    bands: int = 426
    revision: str = "002"
    materials: tuple[str, ...] = ("vegetation", "soil", "water", "built", "dry_vegetation")
    seed: int = 42
    noise: float = 0.004  # reflectance units, outside the water-vapour windows
    chunks: str = "auto"  # "legacy", "band" or "auto" (band for .002, legacy for .001)
    compression: int = 3  # gzip level; 0 = uncompressed
    wqi_dtype: str = "int16"  # .002 Weather_Quality_Indicator dtype: int16 or int32 (-9999 = no data)
    rare: tuple[RarePatch, ...] = ()  # materials whose only pure pixels are one small square
    trees: bool = False  # plant tree crowns of synthetic taxa (species.source: demo; aopflow.demo.species)

    def tile_ids(self) -> list[str]:
        e0, n0 = self.origin
        return [
            format_tile_id(e0 + TILE_SIZE_M * i, n0 + TILE_SIZE_M * j)
            for j in range(self.shape[1])
            for i in range(self.shape[0])
        ]

    def validate(self) -> None:
        if self.pixels * self.pixel_size > TILE_SIZE_M + 1e-9:
            raise ConfigError(
                f"demo.pixels ({self.pixels}) x demo.pixel_size ({self.pixel_size} m) = "
                f"{self.pixels * self.pixel_size:g} m exceeds the {TILE_SIZE_M} m NEON tile; reduce one of them."
            )
        unknown = set(self.materials) - set(MATERIALS)
        if unknown:
            raise ConfigError(
                f"demo.materials: unknown {sorted(unknown)}; must be among {sorted(MATERIALS)}"
            )
        if self.revision not in ("001", "002"):
            raise ConfigError(f"demo.revision must be '001' or '002', got {self.revision!r}")
        if self.wqi_dtype not in WQI_DTYPES:
            raise ConfigError(
                f"demo.wqi_dtype must be one of {sorted(WQI_DTYPES)}, got {self.wqi_dtype!r}"
            )
        for r in self.rare:
            if r.material not in self.materials or r.tile not in self.tile_ids():
                raise ConfigError(
                    f"rare patch {r}: material must be one of {list(self.materials)} and tile one "
                    f"of {self.tile_ids()}"
                )
            if not (0 <= r.row and 0 <= r.col and r.size >= 1 and max(r.row, r.col) + r.size <= self.pixels):
                raise ConfigError(f"rare patch {r}: the square must lie inside the {self.pixels}-pixel tile")
            if not 0.0 <= r.max_mixed < 1.0:
                raise ConfigError(f"rare patch {r}: max_mixed must be in [0, 1)")


def wavelength_grid(bands: int) -> np.ndarray:
    """NEON NIS band centres: 383.884 + 5.0077562 i nm, stretched to span ~384-2512 nm."""
    step = 5.0077562 * 425 / max(bands - 1, 1)
    return 383.884 + step * np.arange(bands)


def endmember_spectra(materials: Sequence[str], wavelengths: np.ndarray) -> np.ndarray:
    """Reflectance spectra ``(n_materials, bands)`` float64 of the named materials."""
    out = []
    for name in materials:
        nm, refl = np.array(MATERIALS[name], dtype=float).T
        out.append(np.interp(wavelengths, nm, refl))
    return np.asarray(out)


def _site_rng(spec: SiteSpec, salt: int) -> np.random.Generator:
    return np.random.default_rng([spec.seed, salt])


def _site_extent(spec: SiteSpec) -> tuple[float, float, float, float]:
    e0, n0 = spec.origin
    return e0, n0, e0 + TILE_SIZE_M * spec.shape[0], n0 + TILE_SIZE_M * spec.shape[1]


def _bumps(spec: SiteSpec, salt: int, count: int, x: np.ndarray, y: np.ndarray, scale: float):
    """Sum of Gaussian bumps at random map positions: a smooth field defined site-wide."""
    xmin, ymin, xmax, ymax = _site_extent(spec)
    rng = _site_rng(spec, salt)
    cx = rng.uniform(xmin, xmax, count)
    cy = rng.uniform(ymin, ymax, count)
    amp = rng.uniform(0.5, 1.5, count)
    width = scale * rng.uniform(0.6, 1.4, count)
    f = np.zeros(np.broadcast(x, y).shape)
    for i in range(count):
        f += amp[i] * np.exp(-((x - cx[i]) ** 2 + (y - cy[i]) ** 2) / (2 * width[i] ** 2))
    return f


def pure_patches(spec: SiteSpec) -> list[tuple[int, float, float, float]]:
    """``(material index, x, y, radius)`` discs where one material is pure (abundance 1).

    Materials of ``spec.rare`` get no disc (their only pure pixels are their square)."""
    xmin, ymin, xmax, ymax = _site_extent(spec)
    rng = _site_rng(spec, 7)
    r = max(60.0, 4 * spec.pixel_size)
    out = []
    rare = {spec.materials.index(rp.material) for rp in spec.rare}
    for k in range(len(spec.materials)):
        for _ in range(2):
            if k in rare:  # drawn anyway, so the other patches do not move
                rng.uniform(size=2)
                continue
            out.append(
                (k, rng.uniform(xmin + r, xmax - r), rng.uniform(ymin + r, ymax - r), r)
            )
    return out


def abundances_at(spec: SiteSpec, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """True abundances ``(..., n_materials)`` float32 at map coordinates x, y (pixel centres)."""
    n = len(spec.materials)
    fields = np.stack(
        [_bumps(spec, 100 + k, 6, x, y, scale=350.0) for k in range(n)], axis=-1
    )
    # Sharpened softmax: broad near-pure regions with smooth transitions between them.
    z = 4.0 * fields
    z -= z.max(axis=-1, keepdims=True)
    a = np.exp(z)
    a /= a.sum(axis=-1, keepdims=True)
    for rp in spec.rare:
        # Cap the rare material's abundance and hand the excess to the others pro rata.
        k = spec.materials.index(rp.material)
        old = a[..., k].copy()
        new = np.minimum(old, rp.max_mixed)
        rest = 1.0 - old
        scale = np.divide(1.0 - new, rest, out=np.zeros_like(rest), where=rest > 1e-12)
        a *= scale[..., None]
        a[..., k] = new
        flat = rest <= 1e-12  # softmax rounded to exactly 1: share the excess equally
        if flat.any():
            a[flat] = (1.0 - rp.max_mixed) / (n - 1)
            a[flat, k] = rp.max_mixed
    for k, cx, cy, r in pure_patches(spec):
        d = np.hypot(x - cx, y - cy)
        w = np.clip((1.5 * r - d) / (0.5 * r), 0.0, 1.0)[..., None]  # 1 inside r, ramps to 0
        onehot = np.zeros(n)
        onehot[k] = 1.0
        a = a * (1 - w) + onehot * w
    for rp in spec.rare:
        e, nn = (int(v) for v in rp.tile.split("_"))
        res = spec.pixel_size
        x0, y1 = e + rp.col * res, nn + spec.pixels * res - rp.row * res  # square's NW corner
        inside = (x > x0) & (x < x0 + rp.size * res) & (y < y1) & (y > y1 - rp.size * res)
        onehot = np.zeros(n)
        onehot[spec.materials.index(rp.material)] = 1.0
        a = np.where(inside[..., None], onehot, a)
    return a.astype(np.float32)


def _nodata_mask(spec: SiteSpec, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A slanted flight-edge strip along the site's east side is outside flight coverage."""
    xmin, ymin, xmax, ymax = _site_extent(spec)
    width = xmax - xmin
    edge = xmax - 0.12 * width - 0.08 * width * (y - ymin) / max(ymax - ymin, 1.0)
    return x > edge


def _wqi_codes(spec: SiteSpec, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Weather quality codes 1/2/3 from a smooth cloudiness field (patches of each)."""
    f = _bumps(spec, 900, 4, x, y, scale=400.0)
    # Thresholds from a coarse site-wide grid, so codes do not depend on the tile.
    site_f = _bumps(spec, 900, 4, *np.meshgrid(*_coarse_axes(spec)), scale=400.0)
    lo, hi = np.quantile(site_f, [0.45, 0.8])
    codes = np.full(f.shape, 1, dtype=np.int32)
    codes[f > lo] = 2
    codes[f > hi] = 3
    return codes


def _coarse_axes(spec: SiteSpec):
    xmin, ymin, xmax, ymax = _site_extent(spec)
    return np.linspace(xmin, xmax, 64), np.linspace(ymin, ymax, 64)


def _g16_8(v: float) -> str:
    """IDL ``G16.8`` formatting used by NEON's Map_Info (8 significant digits, width 16)."""
    nd = len(str(int(abs(v))))
    return f"{v:16.{max(8 - nd, 0)}f}"


def map_info_string(ulx: float, uly: float, res: float, zone: int) -> str:
    """``Map_Info`` exactly as NEON writes it (reproduces real strings byte for byte)."""
    return ",".join(
        ["UTM", "  1.000", "  1.000", _g16_8(ulx), _g16_8(uly), _g16_8(res), _g16_8(res),
         f"{zone:4d}", "  North", "  WGS-84", "  units=Meters", " 0"]
    )


def tile_file_name(spec: SiteSpec, tile_id: str) -> str:
    """NEON's file name of one demo tile (``tile_id`` may be a wildcard such as ``"{tile}"``)."""
    return reflectance_file_name(spec.domain, spec.site, tile_id, spec.revision)


def _vlen_ascii(group: h5py.Group, name: str, value: str) -> None:
    group.create_dataset(name, data=value.encode("ascii"), dtype=h5py.string_dtype("ascii"))


def _flight_lines(spec: SiteSpec) -> list[str]:
    if spec.revision == "002":
        return [f"L{i:03d}-1_{spec.year}0{6 + i // 3}1{i}" for i in range(1, 4)]
    return [f"15{i}6{i}9" for i in range(3)]


def write_tile(spec: SiteSpec, tile_id: str, out_dir: Path, truth_dir: Path | None = None) -> Path:
    """Write one synthetic tile (and its truth abundances); return the .h5 path."""
    spec.validate()
    e, n = parse_tile_id(tile_id)
    px, res, nb = spec.pixels, spec.pixel_size, spec.bands
    wl = wavelength_grid(nb)
    E = endmember_spectra(spec.materials, wl).astype(np.float32)
    uly = n + px * res
    cols_x = e + (np.arange(px) + 0.5) * res
    rows_y = uly - (np.arange(px) + 0.5) * res
    X, Y = np.meshgrid(cols_x, rows_y)
    abund = abundances_at(spec, X, Y)  # (px, px, n)
    nodata = _nodata_mask(spec, X, Y)
    noise_sd = np.full(nb, spec.noise, dtype=np.float32)
    in_window = ((wl >= 1340) & (wl <= 1445)) | ((wl >= 1790) & (wl <= 1955))
    noise_sd[in_window] = 0.05  # water-vapour absorption: mostly noise
    noise_sd[-10:] = 0.03  # "the last 10 bands sometimes have noise"
    rng = np.random.default_rng([spec.seed, e, n])
    crowns = None
    if spec.trees:  # tree crowns replace the scene where they are (aopflow.demo.species)
        from aopflow.demo.species import crown_paint

        crowns = crown_paint(spec, tile_id, wl, endmember_spectra(["vegetation"], wl)[0])
    cube = np.empty((px, px, nb), dtype=np.int16)
    geom = nadir = None
    if spec.revision == "001":  # flight lines, terrain and anisotropy (aopflow.demo.flight)
        geom = flight.pixel_geometry(spec, X, Y, _bumps)
        gains = flight.material_gains(spec, geom)
        if truth_dir is not None:
            nadir = np.empty((px, px, nb), dtype=np.int16)
    rows_per = max(1, int(2**24 // (px * nb)))
    for r0 in range(0, px, rows_per):
        r1 = min(px, r0 + rows_per)
        if geom is not None:
            base = abund[r0:r1] @ E  # nadir view, flat terrain, reference sun
            if crowns is not None:
                crowns.paint(base, r0, r1)
            if nadir is not None:  # the truth
                truth = np.clip(np.rint(base * 10000.0), -32000, 32000).astype(np.int16)
                truth[nodata[r0:r1]] = -9999
                nadir[r0:r1] = truth
            refl = (abund[r0:r1] * gains[r0:r1]) @ E
            if crowns is not None:  # tree crowns are seen with the vegetation's anisotropy
                crown = crowns.labels[r0:r1] >= 0
                g_veg = gains[r0:r1][..., spec.materials.index("vegetation")] if "vegetation" in spec.materials else 1.0
                refl[crown] = (base * np.asarray(g_veg, dtype=np.float32)[..., None])[crown]
            refl *= flight.terrain_gain(flight.rows_of(geom, r0, r1), wl)
        else:
            refl = abund[r0:r1] @ E  # (rows, px, nb) float32
            if crowns is not None:
                crowns.paint(refl, r0, r1)
        refl += rng.standard_normal(refl.shape, dtype=np.float32) * noise_sd
        refl[:, :, in_window] = np.abs(refl[:, :, in_window]) * 0.3 + 0.02 * rng.random(
            (r1 - r0, px, int(in_window.sum())), dtype=np.float32
        )
        vals = np.clip(np.rint(refl * 10000.0), -32000, 32000).astype(np.int16)
        vals[nodata[r0:r1]] = -9999
        cube[r0:r1] = vals
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / tile_file_name(spec, tile_id)
    with atomic_path(path) as tmp:
        _write_h5(spec, tmp, tile_id, cube, wl, X, Y, nodata, geom)
    if truth_dir is not None:
        truth_dir.mkdir(parents=True, exist_ok=True)
        transform = Affine(res, 0, e, 0, -res, uly)
        a = np.moveaxis(abund if crowns is None else crowns.truth_abundance(abund), -1, 0).copy()
        a[:, nodata] = np.nan
        with atomic_path(truth_dir / f"abundance_{tile_id}.tif") as tmp:
            with rasterio.open(
                tmp, "w", driver="GTiff", width=px, height=px, count=len(spec.materials),
                dtype="float32", crs=f"EPSG:{spec.epsg}", transform=transform, nodata=np.nan,
                compress="deflate",
            ) as dst:
                dst.write(a)
                for i, name in enumerate(spec.materials, 1):
                    dst.set_band_description(i, name)
        if nadir is not None:
            with atomic_path(truth_dir / f"nadir_{tile_id}.tif") as tmp:
                with rasterio.open(
                    tmp, "w", driver="GTiff", width=px, height=px, count=nb, dtype="int16",
                    crs=f"EPSG:{spec.epsg}", transform=transform, nodata=-9999, compress="deflate",
                    interleave="pixel",
                ) as dst:
                    dst.write(np.moveaxis(nadir, -1, 0))
                    dst.update_tags(solar_zenith=str(flight.REFERENCE_SOLAR_ZENITH), scale="10000",
                                    description="nadir-view flat-terrain reflectance at the reference solar zenith")
    return path


def _chunks(spec: SiteSpec, shape: tuple[int, int, int]):
    prof = spec.chunks if spec.chunks != "auto" else ("band" if spec.revision == "002" else "legacy")
    if prof not in CHUNK_PROFILES:
        raise ConfigError(f"demo.chunks must be one of {sorted(CHUNK_PROFILES) + ['auto']}")
    c = CHUNK_PROFILES[prof]
    return tuple(min(s, ci) if ci else s for s, ci in zip(shape, c))


def _write_h5(spec, path, tile_id, cube, wl, X, Y, nodata, geom=None):
    e, n = parse_tile_id(tile_id)
    px, res, nb = spec.pixels, spec.pixel_size, spec.bands
    comp = {"compression": "gzip", "compression_opts": spec.compression} if spec.compression else {}
    zone = spec.epsg % 100
    rng = np.random.default_rng([spec.seed, e, n, 1])
    with h5py.File(path, "w") as f:
        refl = f.create_group(spec.site).create_group("Reflectance")
        refl.attrs["Band_Window_1_Nanometers"] = np.array([1340, 1445], dtype=np.int32)
        refl.attrs["Band_Window_2_Nanometers"] = np.array([1790, 1955], dtype=np.int32)
        ds = refl.create_dataset("Reflectance_Data", data=cube, chunks=_chunks(spec, cube.shape), **comp)
        a = ds.attrs
        a["Cloud_conditions"] = "For cloud conditions information see Weather Quality Index dataset."
        a["Cloud_type"] = "Cloud type may have been selected from multiple flight trajectories."
        a["Data_Ignore_Value"] = np.float64(-9999.0)
        a["Description"] = "Atmospherically corrected reflectance."
        a["Dimension_Labels"] = "Line, Sample, Wavelength"
        a["Dimensions"] = np.array([px, px, nb], dtype=np.int32)
        a["Interleave"] = "BSQ"
        a["Scale_Factor"] = np.float64(10000.0)
        a["Spatial_Extent_meters"] = np.array([e, e + px * res, n, n + px * res], dtype=np.float64)
        a["Spatial_Resolution_X_Y"] = np.array([res, res], dtype=np.float64)
        a["Units"] = "Unitless."
        a["Units_Valid_range"] = np.array([0, 10000], dtype=np.int32)

        md = refl.create_group("Metadata")
        cs = md.create_group("Coordinate_System")
        _vlen_ascii(cs, "Coordinate_System_String", rasterio.crs.CRS.from_epsg(spec.epsg).to_wkt())
        _vlen_ascii(cs, "EPSG Code", str(spec.epsg))
        _vlen_ascii(cs, "Map_Info", map_info_string(e, n + px * res, res, zone))
        _vlen_ascii(cs, "Proj4", f"+proj=UTM +zone={zone} +ellps=WGS84 +datum=WGS84 +units=m +no_defs")

        sd = md.create_group("Spectral_Data")
        wdt = np.float64 if spec.revision == "002" else np.float32
        w = sd.create_dataset("Wavelength", data=wl.astype(np.float32).astype(wdt))
        w.attrs["Description"] = "Central wavelength of the reflectance bands."
        w.attrs["Units"] = "nanometers"
        fw = sd.create_dataset("FWHM", data=np.linspace(5.68, 6.43, nb).astype(np.float32).astype(wdt))
        fw.attrs["Description"] = "Full width half max of the reflectance bands."
        fw.attrs["Units"] = "nanometers"

        lines = _flight_lines(spec)
        dsi = (np.floor((Y - Y.min()) / max(np.ptp(Y), 1.0) * len(lines) * 0.999)).astype(np.int32)
        files = None
        if geom is not None:  # .001: the pixel's line by nearest nadir, indexing Data_Files
            site_lines, _ = flight.flight_lines(spec)
            files = flight.data_files(spec)
            pos = np.array([files.index(ln.file) for ln in site_lines], dtype=np.int32)
            dsi = pos[geom.line]
            present = sorted(set(np.unique(geom.line[~nodata]).tolist()))
            lines = [site_lines[i].time for i in present]
            line_sun = {site_lines[i].time: (site_lines[i].solar_zenith, site_lines[i].solar_azimuth) for i in present}
        dsi[nodata] = -1
        anc = md.create_group("Ancillary_Imagery")
        table = ANCILLARY_002 if spec.revision == "002" else ANCILLARY_001
        wqi = _wqi_codes(spec, X, Y)
        wqi[nodata] = 0  # .001: black (no stop-light colour); .002: -9999 below
        smooth = _bumps(spec, 500, 3, X, Y, scale=500.0)
        for name, dt in table.items():
            if name == "Weather_Quality_Indicator":
                if spec.revision == "001":
                    rgb = np.zeros(wqi.shape + (3,), dtype=np.uint8)
                    rgb[wqi == 1] = (0, 255, 0)
                    rgb[wqi == 2] = (255, 255, 0)
                    rgb[wqi == 3] = (255, 0, 0)
                    data = rgb
                else:
                    dt = WQI_DTYPES[spec.wqi_dtype]
                    data = np.where(nodata, WQI_NODATA_002, wqi).astype(dt)
            elif name == "Data_Selection_Index":
                data = dsi.astype(dt)
            elif geom is not None and name in ("Slope", "Aspect", "Smooth_Surface_Elevation"):
                src = {"Slope": geom.slope, "Aspect": geom.aspect, "Smooth_Surface_Elevation": 400 + geom.elevation}[name]
                data = np.where(nodata, -9999.0, src).astype(dt)
            elif name == "Acqusition_Date":
                dates = np.array([int(ln.split("_")[1]) for ln in lines], dtype=np.int32)
                data = np.where(dsi >= 0, dates[np.clip(dsi, 0, None)], 0).astype(dt)
            elif name in ("Dark_Dense_Vegetation_Classification", "Haze_Cloud_Water_Map"):
                data = (1 + (smooth > np.median(smooth)) + (smooth > np.quantile(smooth, 0.9))).astype(dt)
            else:
                data = (100 + 20 * smooth + rng.normal(0, 1, smooth.shape)).astype(dt)
            d = anc.create_dataset(name, data=data, chunks=True, **comp)
            if name == "Data_Selection_Index" and files is not None:
                d.attrs["Data_Files"] = ",".join(files)
        logs = md.create_group("Logs")
        for i, line in enumerate(lines):
            g = logs.create_group(line)
            for k in ("ATCOR_Input_file", "ATCOR_Processing_Log", "Shadow_Processing_Log",
                      "Skyview_Processing_Log"):
                _vlen_ascii(g, k, f"synthetic {k} for flight line {line} (aopflow demo)")
            sz, sa = line_sun[line] if geom is not None else (30.0 + i, 140.0 + 3 * i)
            g.create_dataset("Solar_Azimuth_Angle", data=np.float32(sa))
            g.create_dataset("Solar_Zenith_Angle", data=np.float32(sz))
            if spec.revision == "002":
                _vlen_ascii(g, "BRDF_COEFFS_JSON_for_Hytools", json.dumps({"type": "flex", "synthetic": True}))
                _vlen_ascii(g, "BRDF_Config_JSON_for_Hytools", json.dumps(
                    {"bad_bands": [[300, 400], [1337, 1430], [1800, 1960], [2450, 2600]], "file_type": "envi"}))
        az, zen = (("to-sensor_Azimuth_Angle", "to-sensor_Zenith_Angle") if spec.revision == "002"
                   else ("to-sensor_azimuth_angle", "to-sensor_zenith_angle"))
        for name, base in ((az, 100.0), (zen, 8.0)):
            data = (base + 2 * smooth).astype(np.float32)
            if geom is not None:
                data = np.where(nodata, -9999.0, geom.view_azimuth if name == az else geom.view_zenith).astype(np.float32)
            d = md.create_dataset(name, data=data, chunks=True, **comp)
            d.attrs["Data_Ignore_Value"] = np.float64(-9999.0)
            d.attrs["Scale_Factor"] = np.float64(1.0)


def write_truth_endmembers(spec: SiteSpec, path: Path) -> Path:
    """Write the true material spectra as CSV: ``wavelength_nm`` then one column per material."""
    wl = wavelength_grid(spec.bands)
    E = endmember_spectra(spec.materials, wl)
    with atomic_path(path) as tmp:
        with open(tmp, "w") as fh:
            fh.write(",".join(["wavelength_nm", *spec.materials]) + "\n")
            for i, w in enumerate(wl):
                fh.write(",".join([f"{w:.4f}", *(f"{v:.6f}" for v in E[:, i])]) + "\n")
    return path


def generate_site(spec: SiteSpec, out_dir: str | Path, tiles: Sequence[str] | None = None) -> list[Path]:
    """Write every tile of ``spec`` (or the given subset) plus ground truth under ``out_dir``.

    Layout: ``out_dir/NEON_..._reflectance.h5`` and ``out_dir/truth/{endmembers.csv,
    abundance_<tile>.tif}``.
    """
    out_dir = Path(out_dir)
    truth = out_dir / "truth"
    paths = [write_tile(spec, t, out_dir, truth) for t in (tiles or spec.tile_ids())]
    write_truth_endmembers(spec, truth / "endmembers.csv")
    return paths


def write_demo_plots(spec: SiteSpec, path: str | Path, n: int = 12) -> Path:
    """Field plots for the demo site (GeoPackage of points, NEON-like ``plotID``).

    Most plots fall inside the data; one straddles a tile border and one lies in the no-data
    strip at the flight edge, so the zonal stage shows both cases.
    """
    import geopandas as gpd
    from shapely.geometry import Point

    rng = _site_rng(spec, 31)
    xmin, ymin, xmax, ymax = _site_extent(spec)
    span_x = min(xmax - xmin, spec.shape[0] * spec.pixels * spec.pixel_size)
    pts = [(xmin + TILE_SIZE_M - 5.0 if spec.shape[0] > 1 else xmin + 0.5 * span_x,
            ymin + 0.5 * min(TILE_SIZE_M, ymax - ymin))]
    pts.append((xmax - 30.0, ymin + 30.0))  # in the no-data strip of the east edge
    while len(pts) < n:
        x, y = rng.uniform(xmin + 40, xmax - 40), rng.uniform(ymin + 40, ymax - 40)
        # Only inside tiles' data extents (tiles may cover part of their 1 km cell).
        if (x - xmin) % 1000.0 < spec.pixels * spec.pixel_size - 25 and (y - ymin) % 1000.0 < spec.pixels * spec.pixel_size - 25:
            pts.append((x, y))
    gdf = gpd.GeoDataFrame(
        {"plotID": [f"{spec.site}_{i + 1:03d}" for i in range(len(pts))],
         "plotType": ["distributed"] * len(pts),
         "note": ["straddles a tile border", "in the no-data flight edge"] + [""] * (len(pts) - 2)},
        geometry=[Point(x, y) for x, y in pts], crs=f"EPSG:{spec.epsg}",
    )
    with atomic_path(path, suffix=".gpkg") as tmp:
        gdf.to_file(tmp, driver="GPKG", layer="plots")
    return Path(path)
