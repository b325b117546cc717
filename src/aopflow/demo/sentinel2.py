"""Generate Sentinel-2-like L2A scenes of the AOP demo site (``sentinel2.source: demo``).

The scenes show the same landscape as the AOP demo scene of :mod:`aopflow.demo.aop`: over the
site the material abundances are exactly :func:`aopflow.demo.aop.abundances_at` at the
Sentinel-2 pixel centres; around the site (scenes extend ``margin_m`` beyond it, so reading only
the site's windows is testable) a background landscape of the same materials is blended in over
a 300 m wide feather outside the site edge.

Spectral model
    Each material's spectrum (:data:`aopflow.demo.aop.MATERIALS`, on a 1 nm grid) is averaged
    over a Gaussian approximation of the Sentinel-2 MSI spectral response of B02 (blue), B03
    (green), B04 (red) and B08 (nir), with the centre wavelengths and FWHM Earth Search v1 lists
    in ``eo:bands`` (:data:`BANDS`). Pixel reflectance is the abundance-weighted (linear) mixture
    of these band-averaged spectra, plus Gaussian sensor noise (``noise``, reflectance units).

Phenology
    The green-vegetation material changes through the year: its spectrum on day-of-year ``d``
    is ``g(d) * vegetation + (1 - g(d)) * dry_vegetation`` with the greenness curve
    ``g(d) = g_min + (1 - g_min) * (L(d; 125, 12) - L(d; 275, 12))``, ``L`` a logistic of
    midpoint and width in days (:func:`greenness`): green-up in early May, senescence in early
    October. The other materials do not change.

Encoding
    uint16 DN with nodata 0: ``DN = round((reflectance - offset) / 0.0001)``, clipped to
    1..65535 on valid pixels, with ``offset = -0.1`` from processing baseline 04.00 on
    (BOA_ADD_OFFSET, from 2022-01-25) and 0 before (:func:`boa_offset`). The baseline of a
    scene follows its date unless :attr:`S2Scene.baseline` says otherwise.

Scene classification (SCL, 20 m)
    Background classes from the dominant material of each 20 m pixel (vegetation 4; soil,
    built, dry vegetation 5 "not vegetated"; water 6). Clouds from a smooth random field
    thresholded to the scene's ``cloud_fraction`` of its valid area (top 40 %: 9 high
    probability, next 40 %: 8 medium, last 20 %: 10 thin cirrus); cloud shadows (3) are the
    clouds displaced 300 m to the north-west; a slanted no-data swath edge (0) where all bands
    are 0 too; optionally a few saturated/defective pixels (1, bands at 65535). The 10 m bands
    see the 20 m SCL: cloud pixels are bright, cirrus brightened, shadows darkened.

Two UTM zones
    The AOP demo site lies on UTM zone 11's central meridian, so no real tile of a neighbouring
    zone reaches it. A scene with ``zone`` set to a neighbour is synthetic: it is laid out on
    that zone's 10 m grid (edges on multiples of 20 m, like real tiles) around the site's
    projected position, its pixel centres are mapped back to the site CRS to evaluate the same
    landscape, and its MGRS grid square letters continue the MGRS letter sequence beyond the
    zone's usual easting range.

Items follow Earth Search v1 (``sentinel-2-l2a``): ids ``S2B_11SMB_20240615_0_L2A``,
``eo:cloud_cover`` (percent of the valid area in SCL 8, 9, 10), ``s2:processing_baseline``,
``proj:epsg``, ``mgrs:*``, ``earthsearch:boa_offset_applied``, per asset ``raster:bands``
(scale, offset, nodata, data_type), ``proj:shape`` and ``proj:transform``; ``bbox`` and
``geometry`` (the valid-data footprint) in EPSG:4326. Asset hrefs are absolute local paths;
:func:`write_served_items` rewrites them to a base URL for a STAC API.

Files (``out_dir``): ``items.json`` (ItemCollection, written last), ``collection.json``,
``scenes/{item_id}/{asset}.tif`` (COGs), and the ground truth on the site grid,
``truth/{YYYY-MM-DD}/{reflectance,ndvi}.tif`` at the configured resolution (float32, NaN where
no scene has data or SCL is in ``mask_classes``; reflectance bands blue, green, red, nir),
``truth/{date}/native/{reflectance,scl,source}.tif`` at 10 m (unmasked reflectance, the SCL
class, and a bit mask of which of the date's scenes had data: bit k = the date's k-th item in
``truth.json``) and ``truth/truth.json`` (per date: item ids, baselines, offsets, cloud cover,
valid fraction over the site). See :func:`load_truth`.

How the truth is made: per site pixel (10 m) the value of the first of the date's scenes (the
site's zone first) whose pixel containing the site pixel centre has data, decoded as
``DN * 0.0001 + offset`` (float64, stored float32), i.e. what a nearest-neighbour load with
"first valid" fusing returns. At a coarser ``resolution`` that is a multiple of 10 m each pixel
is the mean of its 10 m block, NaN if any of the block is masked (NDVI from the block-mean red
and nir); at other divisors of 1000 m (e.g. 25 m) the 10 m pixel holding the pixel centre.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from pyproj import Transformer

from aopflow.demo.aop import SiteSpec, abundances_at, endmember_spectra
from aopflow.errors import ConfigError
from aopflow.io import atomic_path

log = logging.getLogger(__name__)

#: Asset key -> (band name, centre wavelength nm, FWHM nm, title), as Earth Search v1 lists them.
BANDS: dict[str, tuple[str, float, float, str]] = {
    "blue": ("B02", 490.0, 98.0, "Blue (band 2) - 10m"),
    "green": ("B03", 560.0, 45.0, "Green (band 3) - 10m"),
    "red": ("B04", 665.0, 38.0, "Red (band 4) - 10m"),
    "nir": ("B08", 842.0, 145.0, "NIR 1 (band 8) - 10m"),
}
BAND_KEYS: tuple[str, ...] = tuple(BANDS)
SCALE = 0.0001
#: Processing baseline from which L2A carries BOA_ADD_OFFSET = -1000 (reflectance offset -0.1).
OFFSET_BASELINE = "04.00"
OFFSET_START = dt.date(2022, 1, 25)
DEFAULT_MASK_CLASSES: tuple[int, ...] = (0, 1, 3, 8, 9, 10)
SCL_CLASSES = {
    0: "no data", 1: "saturated or defective", 2: "dark area pixels", 3: "cloud shadows",
    4: "vegetation", 5: "not vegetated", 6: "water", 7: "unclassified",
    8: "cloud medium probability", 9: "cloud high probability", 10: "thin cirrus", 11: "snow",
}
#: SCL background class of each material when it is the dominant one.
MATERIAL_SCL = {"vegetation": 4, "soil": 5, "built": 5, "dry_vegetation": 5, "water": 6}
COLLECTION = "sentinel-2-l2a"
STAC_EXTENSIONS = [
    "https://stac-extensions.github.io/processing/v1.1.0/schema.json",
    "https://stac-extensions.github.io/grid/v1.0.0/schema.json",
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "https://stac-extensions.github.io/view/v1.0.0/schema.json",
    "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
    "https://stac-extensions.github.io/mgrs/v1.0.0/schema.json",
    "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
]
COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
_SWATH_SLOPE = 0.1  # metres of easting per metre of northing: a slightly slanted swath edge


# --------------------------------------------------------------------------------------------
# Encoding


def baseline_for_date(date: dt.date) -> str:
    """The processing baseline ESA used for L2A products of that sensing date (approximate)."""
    if date < OFFSET_START:
        return "03.01"
    if date < dt.date(2024, 1, 1):
        return "05.09"
    if date < dt.date(2024, 7, 23):
        return "05.10"
    return "05.11"


def boa_offset(baseline: str) -> float:
    """Reflectance offset of a processing baseline: -0.1 from 04.00 on, else 0."""
    try:
        major, minor = (int(p) for p in str(baseline).split("."))
    except ValueError as exc:
        raise ConfigError(
            f"Sentinel-2 processing baseline {baseline!r} is not of the form 'NN.NN' (e.g. '05.10')"
        ) from exc
    return -0.1 if (major, minor) >= (4, 0) else 0.0


def encode_dn(reflectance: np.ndarray, offset: float, valid: np.ndarray | None = None) -> np.ndarray:
    """uint16 DN of surface reflectance: ``round((reflectance - offset) / 0.0001)``.

    Valid pixels are clipped to 1..65535 (0 is nodata); pixels where ``valid`` is False get 0.
    """
    dn = np.clip(np.rint((np.asarray(reflectance, dtype=np.float64) - offset) / SCALE), 1, 65535)
    dn = dn.astype(np.uint16)
    if valid is not None:
        dn[~valid] = 0
    return dn


def decode_dn(dn: np.ndarray, offset: float, scale: float = SCALE) -> np.ndarray:
    """Reflectance float64 ``DN * scale + offset``, NaN where DN is 0 (nodata)."""
    dn = np.asarray(dn)
    out = dn.astype(np.float64) * scale + offset
    out[dn == 0] = np.nan
    return out


# --------------------------------------------------------------------------------------------
# Spectra and phenology


def band_response(key: str, wavelengths: np.ndarray) -> np.ndarray:
    """Gaussian spectral response (peak 1) of band ``key`` at ``wavelengths`` (nm)."""
    _, centre, fwhm, _ = BANDS[key]
    sigma = fwhm / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    return np.exp(-0.5 * ((wavelengths - centre) / sigma) ** 2)


def band_spectra(materials: Sequence[str]) -> np.ndarray:
    """Band-averaged reflectance ``(n_materials, 4)`` float64 (blue, green, red, nir)."""
    wl = np.arange(380.0, 1101.0, 1.0)
    E = endmember_spectra(materials, wl)
    R = np.stack([band_response(k, wl) for k in BAND_KEYS], axis=1)  # (nwl, 4)
    return E @ R / R.sum(axis=0)


def greenness(doy: float | np.ndarray, g_min: float = 0.25) -> np.ndarray:
    """Seasonal greenness in [g_min, 1] on day-of-year ``doy`` (double logistic)."""
    doy = np.asarray(doy, dtype=float)
    up = 1.0 / (1.0 + np.exp(-(doy - 125.0) / 12.0))
    down = 1.0 / (1.0 + np.exp(-(doy - 275.0) / 12.0))
    return g_min + (1.0 - g_min) * np.clip(up - down, 0.0, 1.0)


def spectra_on(materials: Sequence[str], date: dt.date) -> np.ndarray:
    """Band spectra ``(n_materials, 4)`` on ``date``: vegetation follows the greenness curve."""
    E = band_spectra(materials)
    if "vegetation" in materials:
        g = float(greenness(date.timetuple().tm_yday))
        dry = band_spectra(["dry_vegetation"])[0]
        k = list(materials).index("vegetation")
        E[k] = g * E[k] + (1.0 - g) * dry
    return E


# --------------------------------------------------------------------------------------------
# Scene specification


@dataclass(frozen=True)
class S2Scene:
    """One generated L2A item.

    ``zone``: UTM zone of the tile (None = the site's). ``cloud_fraction``: fraction of the
    valid area in SCL 8/9/10 (becomes ``eo:cloud_cover``). ``clouds_over_site``: put the
    clouds on the site (a scene under the cloud threshold whose site area is mostly masked).
    ``swath``: ``(side, position)``: no data east (``"east"``) or west (``"west"``) of a slanted
    line crossing the site's southern edge at ``site xmin + position * site width`` (site CRS);
    ``("none", 0)`` for no edge. ``baseline``: processing baseline (None = from the date).
    ``defective``: a few saturated/defective pixels (SCL 1).
    """

    date: str
    platform: str = "sentinel-2a"
    zone: int | None = None
    cloud_fraction: float = 0.0
    clouds_over_site: bool = False
    swath: tuple[str, float] = ("east", 1.8)
    baseline: str | None = None
    defective: bool = False
    time: str = "18:42:31.024"

    @property
    def day(self) -> dt.date:
        return dt.date.fromisoformat(self.date)

    @property
    def processing_baseline(self) -> str:
        return self.baseline or baseline_for_date(self.day)


#: The default demo: seven dates in 2024-04-01/2024-10-31 (all baseline >= 04.00), eight items.
DEFAULT_SCENES: tuple[S2Scene, ...] = (
    S2Scene("2024-04-18", "sentinel-2a", cloud_fraction=0.03, defective=True),
    S2Scene("2024-05-23", "sentinel-2b", cloud_fraction=0.12),
    # Two tiles on one date: the site's zone (no data over the east 40 % of the site) and the
    # neighbouring zone (no data over the west 40 % of it); together they cover the site.
    S2Scene("2024-06-15", "sentinel-2b", swath=("east", 0.6)),
    S2Scene("2024-06-15", "sentinel-2b", zone=-1, swath=("west", 0.4), time="18:42:35.610"),
    S2Scene("2024-07-10", "sentinel-2a", cloud_fraction=0.62),  # above the 30 % threshold
    S2Scene("2024-08-04", "sentinel-2b", cloud_fraction=0.01),
    S2Scene("2024-09-13", "sentinel-2a", cloud_fraction=0.12, clouds_over_site=True),
    S2Scene("2024-10-18", "sentinel-2b", cloud_fraction=0.04, swath=("west", -0.6)),
)

#: A scene before baseline 04.00 (offset 0), for tests that need both encodings.
PRE04_SCENE = S2Scene("2021-07-20", "sentinel-2a", cloud_fraction=0.02)


@dataclass(frozen=True)
class S2DemoSpec:
    """Options of the demo scene generator (the ``sentinel2.demo`` config section).

    ``zone=-1`` in a scene means "the site's zone minus one" (resolved here). ``margin_m``:
    how far scenes extend beyond the site (m). ``noise``: sensor noise SD (reflectance).
    ``drop_raster_bands``: item ids whose assets get no ``raster:bands`` (readers must fall
    back to ``s2:processing_baseline``). ``include_pre04``: add :data:`PRE04_SCENE`.
    """

    seed: int = 7
    scenes: tuple[S2Scene, ...] = DEFAULT_SCENES
    margin_m: float = 4000.0
    noise: float = 0.002
    include_pre04: bool = False
    drop_raster_bands: tuple[str, ...] = ()
    collection: str = COLLECTION

    CONFIG_KEYS = ("seed", "margin_m", "noise", "include_pre04", "drop_raster_bands")

    @classmethod
    def from_config(cls, demo: Mapping | None) -> S2DemoSpec:
        """From the ``sentinel2.demo`` mapping (keys: seed, margin_m, noise, include_pre04,
        drop_raster_bands; all optional)."""
        demo = dict(demo or {})
        unknown = sorted(set(demo) - set(cls.CONFIG_KEYS))
        if unknown:
            raise ConfigError(
                f"sentinel2.demo: unknown key(s) {unknown}; allowed: {list(cls.CONFIG_KEYS)}"
            )
        kw: dict = {}
        if "seed" in demo:
            kw["seed"] = int(demo["seed"])
        if "margin_m" in demo:
            kw["margin_m"] = float(demo["margin_m"])
        if "noise" in demo:
            kw["noise"] = float(demo["noise"])
        if "include_pre04" in demo:
            kw["include_pre04"] = bool(demo["include_pre04"])
        if demo.get("drop_raster_bands"):
            kw["drop_raster_bands"] = tuple(str(v) for v in demo["drop_raster_bands"])
        spec = cls(**kw)
        spec.validate()
        return spec

    def all_scenes(self) -> tuple[S2Scene, ...]:
        return (PRE04_SCENE, *self.scenes) if self.include_pre04 else tuple(self.scenes)

    def validate(self) -> None:
        if self.margin_m < 500:
            raise ConfigError(f"sentinel2.demo.margin_m must be >= 500 m, got {self.margin_m:g}")
        if not 0 <= self.noise < 0.1:
            raise ConfigError(f"sentinel2.demo.noise must be in [0, 0.1), got {self.noise:g}")
        for s in self.all_scenes():
            if not 0 <= s.cloud_fraction < 1:
                raise ConfigError(f"demo scene {s.date}: cloud_fraction must be in [0, 1)")
            if s.swath[0] not in ("east", "west", "none"):
                raise ConfigError(f"demo scene {s.date}: swath side must be east, west or none")
            boa_offset(s.processing_baseline)


# --------------------------------------------------------------------------------------------
# Grids and names


@dataclass(frozen=True)
class _Grid:
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


def _site_bounds(spec: SiteSpec) -> tuple[float, float, float, float]:
    e0, n0 = spec.origin
    return float(e0), float(n0), e0 + 1000.0 * spec.shape[0], n0 + 1000.0 * spec.shape[1]


def _scene_grid(aop: SiteSpec, epsg: int, margin: float) -> _Grid:
    xmin, ymin, xmax, ymax = _site_bounds(aop)
    if epsg != aop.epsg:
        t = Transformer.from_crs(aop.epsg, epsg, always_xy=True)
        xmin, ymin, xmax, ymax = t.transform_bounds(xmin, ymin, xmax, ymax, densify_pts=21)
    x0 = np.floor((xmin - margin) / 20.0) * 20.0
    x1 = np.ceil((xmax + margin) / 20.0) * 20.0
    y0 = np.floor((ymin - margin) / 20.0) * 20.0
    y1 = np.ceil((ymax + margin) / 20.0) * 20.0
    return _Grid(epsg, float(x0), float(y1), int(round((x1 - x0) / 10)), int(round((y1 - y0) / 10)))


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


# --------------------------------------------------------------------------------------------
# The landscape


def _bump_field(rng: np.random.Generator, x, y, centres_x, centres_y, width) -> np.ndarray:
    """Sum of Gaussian bumps (random amplitude and width), each cut off beyond 4 sigma.

    The cut-off is exact per point (a function of position only), so any two grids sampling
    the same place get the same value; on 2-D quasi-regular grids only the block of rows and
    columns near each bump is evaluated.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    f = np.zeros(x.shape)
    amp = rng.uniform(0.5, 1.5, len(centres_x))
    w = width * rng.uniform(0.6, 1.4, len(centres_x))
    two_d = x.ndim == 2
    if two_d:
        rmin, rmax = y.min(axis=1), y.max(axis=1)
        cmin, cmax = x.min(axis=0), x.max(axis=0)
    for cx, cy, a, s in zip(centres_x, centres_y, amp, w):
        cut = 4.0 * s
        if two_d:
            rows = np.nonzero((rmax >= cy - cut) & (rmin <= cy + cut))[0]
            cols = np.nonzero((cmax >= cx - cut) & (cmin <= cx + cut))[0]
            if not len(rows) or not len(cols):
                continue
            sl = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        else:
            sl = (slice(None),)
        dx = x[sl] - cx
        dy = y[sl] - cy
        inside = (np.abs(dx) < cut) & (np.abs(dy) < cut)
        f[sl] += np.where(inside, a * np.exp(-(dx * dx + dy * dy) / (2 * s * s)), 0.0)
    return f


def landscape(aop: SiteSpec, x: np.ndarray, y: np.ndarray, seed: int, extent) -> np.ndarray:
    """Abundances ``(..., n_materials)`` float32 at site-CRS points x, y (m).

    Inside the site exactly :func:`abundances_at`; outside it a background of the same
    materials (smooth random fields, seed ``seed``, over ``extent`` = (xmin, ymin, xmax, ymax)),
    blended in over 300 m outside the site edge. On 2-D grids the background (smooth on a
    700 m scale) is evaluated at every second pixel in each direction and repeated.
    """
    sx0, sy0, sx1, sy1 = _site_bounds(aop)
    dx = np.maximum(np.maximum(sx0 - x, x - sx1), 0.0)
    dy = np.maximum(np.maximum(sy0 - y, y - sy1), 0.0)
    w = np.clip(1.0 - np.hypot(dx, dy) / 300.0, 0.0, 1.0)[..., None]
    n = len(aop.materials)
    out = np.empty(np.shape(x) + (n,), dtype=np.float32)
    inside = w[..., 0] > 0
    xmin, ymin, xmax, ymax = extent
    count = max(4, int((xmax - xmin) * (ymax - ymin) / 4e6))
    rng = np.random.default_rng([seed, 11])
    coarse = np.ndim(x) == 2
    xc, yc = (x[::2, ::2], y[::2, ::2]) if coarse else (x, y)
    fields = []
    for _ in range(n):
        cx = rng.uniform(xmin, xmax, count)
        cy = rng.uniform(ymin, ymax, count)
        fields.append(_bump_field(rng, xc, yc, cx, cy, 700.0))
    z = 4.0 * np.stack(fields, axis=-1)
    z -= z.max(axis=-1, keepdims=True)
    bg = np.exp(z)
    bg /= bg.sum(axis=-1, keepdims=True)
    if coarse:
        bg = np.repeat(np.repeat(bg, 2, axis=0), 2, axis=1)[: x.shape[0], : x.shape[1]]
    out[:] = bg
    if inside.any():
        site = abundances_at(aop, x[inside], y[inside])
        wi = w[inside]
        out[inside] = (wi * site + (1 - wi) * bg[inside]).astype(np.float32)
    return out


# --------------------------------------------------------------------------------------------
# One scene


@dataclass
class _Scene:
    scene: S2Scene
    item_id: str
    grid: _Grid
    dn: dict[str, np.ndarray]  # asset -> uint16 (height, width)
    scl: np.ndarray  # uint8 (height/2, width/2)
    offset: float
    mgrs: tuple[int, str, str]
    footprint: list[tuple[float, float]] = field(default_factory=list)  # lon, lat ring


def _to_site(aop: SiteSpec, grid: _Grid, x: np.ndarray, y: np.ndarray):
    if grid.epsg == aop.epsg:
        return x, y
    t = Transformer.from_crs(grid.epsg, aop.epsg, always_xy=True)
    return t.transform(x, y)


def _cloud_classes(spec: S2DemoSpec, aop: SiteSpec, s: S2Scene, grid: _Grid, valid: np.ndarray,
                   xs: np.ndarray, ys: np.ndarray, k: int) -> np.ndarray:
    """SCL cloud codes (0 = clear, 8, 9, 10) on the 20 m grid; ``xs, ys`` site-CRS centres."""
    codes = np.zeros(valid.shape, dtype=np.uint8)
    f_target = s.cloud_fraction
    if f_target <= 0:
        return codes
    rng = np.random.default_rng([spec.seed, s.day.toordinal(), k, 21])
    sx0, sy0, sx1, sy1 = _site_bounds(aop)
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
    f = _bump_field(rng, xs, ys, cx, cy, width)
    # Ragged cloud edges: many small bumps on top (smooth, so no speckle at low thresholds).
    fx = rng.uniform(ex0, ex1, 60)
    fy = rng.uniform(ey0, ey1, 60)
    f += 0.25 * _bump_field(rng, xs, ys, fx, fy, 150.0)
    fv = f[valid]
    t_all, t_cloud, t_high = np.quantile(fv, [1 - f_target, 1 - 0.8 * f_target, 1 - 0.4 * f_target])
    codes[(f > t_all) & valid] = 10
    codes[(f > t_cloud) & valid] = 8
    codes[(f > t_high) & valid] = 9
    return codes


def _make_scene(spec: S2DemoSpec, aop: SiteSpec, s: S2Scene, k: int, cache: dict) -> _Scene:
    site_zone = aop.epsg % 100
    zone = site_zone if s.zone is None else (site_zone + s.zone if abs(s.zone) == 1 else s.zone)
    epsg = (aop.epsg // 100) * 100 + zone
    grid = _scene_grid(aop, epsg, spec.margin_m)
    if epsg not in cache:
        X, Y = grid.centres(10.0)
        xs, ys = _to_site(aop, grid, X, Y)
        # Background extent from the site (not the scene), so every zone sees one landscape.
        sx0, sy0, sx1, sy1 = _site_bounds(aop)
        pad = spec.margin_m + 1000.0
        ab = landscape(aop, xs, ys, spec.seed, (sx0 - pad, sy0 - pad, sx1 + pad, sy1 + pad))
        X2, Y2 = grid.centres(20.0)
        xs2, ys2 = _to_site(aop, grid, X2, Y2)
        h2, w2 = X2.shape
        ab20 = ab.reshape(h2, 2, w2, 2, -1).mean(axis=(1, 3))
        lut = np.array([MATERIAL_SCL[m] for m in aop.materials], dtype=np.uint8)
        cache[epsg] = (ab, lut[np.argmax(ab20, axis=-1)], xs2, ys2)
    ab, base_scl, xs2, ys2 = cache[epsg]
    h2, w2 = base_scl.shape

    # No-data swath edge (20 m, defined in the site CRS so it is the same line in any zone).
    sx0, sy0, sx1, _ = _site_bounds(aop)
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
    offset = boa_offset(s.processing_baseline)
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
    footprint = _footprint(aop, grid, s, lat_t)
    return _Scene(s, item_id, grid, dn, scl, offset, (zone, band, square), footprint)


def _footprint(aop: SiteSpec, grid: _Grid, s: S2Scene, to_ll: Transformer) -> list:
    """Valid-data footprint ring (lon, lat): the scene rectangle cut by the swath edge."""
    from shapely.geometry import Polygon, box

    x0, y1 = grid.x0, grid.y0
    x1, y0 = x0 + grid.width * 10.0, y1 - grid.height * 10.0
    rect = box(x0, y0, x1, y1)
    side, pos = s.swath
    if side != "none":
        # The swath line in the site CRS, far beyond the scene, then into the scene's CRS.
        sx0, sy0, sx1, _ = _site_bounds(aop)
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


# --------------------------------------------------------------------------------------------
# Writing


def _write_cog(path: Path, arr: np.ndarray, grid: _Grid, res: float, dtype: str,
               resampling: str) -> None:
    with atomic_path(path) as tmp:
        with rasterio.open(
            tmp, "w", driver="COG", width=arr.shape[1], height=arr.shape[0], count=1,
            dtype=dtype, crs=f"EPSG:{grid.epsg}", transform=grid.transform(res), nodata=0,
            compress="deflate", level=1, predictor=2, blocksize=256,
            overview_resampling=resampling,
        ) as dst:
            dst.write(arr, 1)


def _item(spec: S2DemoSpec, sc: _Scene, scene_dir: Path,
          bands: Sequence[str] = BAND_KEYS) -> dict:
    """The Earth Search v1 item of a scene (assets ``bands`` + scl under ``scene_dir``)."""
    s, g = sc.scene, sc.grid
    zone, band, square = sc.mgrs
    baseline = s.processing_baseline
    n_base = baseline.replace(".", "")
    stamp = f"{s.day:%Y%m%d}T{s.time[:8].replace(':', '')}"
    gen = s.day + dt.timedelta(days=0)
    scl = sc.scl
    n_all = scl.size
    n_valid = int((scl != 0).sum())

    def pct(*codes):
        return round(100.0 * float(np.isin(scl, codes).sum()) / max(n_valid, 1), 6)

    lons = [p[0] for p in sc.footprint]
    lats = [p[1] for p in sc.footprint]
    doy = s.day.timetuple().tm_yday
    decl = 23.44 * np.sin(np.radians(360.0 / 365.0 * (doy - 81)))
    lat_c = float(np.mean(lats))
    props = {
        "created": f"{gen.isoformat()}T23:59:00.000Z",
        "platform": s.platform,
        "constellation": "sentinel-2",
        "instruments": ["msi"],
        "eo:cloud_cover": pct(8, 9, 10),
        "proj:epsg": g.epsg,
        "mgrs:utm_zone": zone,
        "mgrs:latitude_band": band,
        "mgrs:grid_square": square,
        "grid:code": f"MGRS-{zone}{band}{square}",
        # Approximate sun position at the 10:30 local-solar-time overpass.
        "view:sun_azimuth": round(150.0 - 0.3 * (lat_c - decl), 6),
        "view:sun_elevation": round(90.0 - abs(lat_c - decl) - 12.0, 6),
        "s2:degraded_msi_data_percentage": 0,
        "s2:nodata_pixel_percentage": round(100.0 * (n_all - n_valid) / n_all, 6),
        "s2:saturated_defective_pixel_percentage": pct(1),
        "s2:dark_features_percentage": pct(2),
        "s2:cloud_shadow_percentage": pct(3),
        "s2:vegetation_percentage": pct(4),
        "s2:not_vegetated_percentage": pct(5),
        "s2:water_percentage": pct(6),
        "s2:unclassified_percentage": pct(7),
        "s2:medium_proba_clouds_percentage": pct(8),
        "s2:high_proba_clouds_percentage": pct(9),
        "s2:thin_cirrus_percentage": pct(10),
        "s2:snow_ice_percentage": pct(11),
        "s2:product_type": "S2MSI2A",
        "s2:processing_baseline": baseline,
        "s2:product_uri": f"{sc.item_id[:3]}_MSIL2A_{stamp}_N{n_base}_R027_T{zone}{band}{square}_{s.day:%Y%m%d}T235900.SAFE",
        "s2:generation_time": f"{gen.isoformat()}T23:59:00.000000Z",
        "s2:datatake_id": f"G{sc.item_id[:3]}_{stamp}_000000_N{baseline}",
        "s2:datatake_type": "INS-NOBS",
        "s2:sequence": "0",
        "datetime": f"{s.day.isoformat()}T{s.time}000Z",
        "earthsearch:boa_offset_applied": sc.offset != 0.0,
        "processing:software": {"aopflow-demo-sentinel2": "1"},
        "updated": f"{gen.isoformat()}T23:59:00.000Z",
    }
    drop = sc.item_id in spec.drop_raster_bands
    assets = {}
    for key in bands:
        name, centre, fwhm, title = BANDS[key]
        a = {
            "href": str((scene_dir / f"{key}.tif").resolve()),
            "type": COG_TYPE,
            "title": title,
            "eo:bands": [{"name": key, "common_name": key, "description": title.split(" - ")[0],
                          "center_wavelength": centre / 1000.0,
                          "full_width_half_max": fwhm / 1000.0}],
            "gsd": 10,
            "proj:shape": [g.height, g.width],
            "proj:transform": list(g.transform(10.0))[:6],
            "raster:bands": [{"nodata": 0, "data_type": "uint16", "bits_per_sample": 15,
                              "spatial_resolution": 10, "scale": SCALE, "offset": sc.offset}],
            "roles": ["data", "reflectance"],
        }
        if drop:
            del a["raster:bands"]
        assets[key] = a
    assets["scl"] = {
        "href": str((scene_dir / "scl.tif").resolve()),
        "type": COG_TYPE,
        "title": "Scene classification map (SCL)",
        "proj:shape": [g.height // 2, g.width // 2],
        "proj:transform": list(g.transform(20.0))[:6],
        "raster:bands": [{"nodata": 0, "data_type": "uint8", "spatial_resolution": 20}],
        "roles": ["data", "reflectance"],
    }
    if drop:
        del assets["scl"]["raster:bands"]
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": sc.item_id,
        "properties": props,
        "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in sc.footprint]]},
        "links": [],
        "assets": assets,
        "bbox": [min(lons), min(lats), max(lons), max(lats)],
        "stac_extensions": list(STAC_EXTENSIONS),
        "collection": spec.collection,
    }


def collection_dict(items: Sequence[Mapping], collection: str = COLLECTION) -> dict:
    """An Earth-Search-like collection document covering ``items`` (for a STAC API)."""
    bb = np.array([it["bbox"] for it in items], dtype=float)
    times = sorted(it["properties"]["datetime"] for it in items)
    return {
        "type": "Collection",
        "stac_version": "1.0.0",
        "id": collection,
        "title": "Sentinel-2 Level-2A (aopflow demo)",
        "description": "Generated Sentinel-2-like L2A scenes of the aopflow demo site, "
                       "Earth Search v1 conventions.",
        "license": "proprietary",
        "extent": {
            "spatial": {"bbox": [[float(bb[:, 0].min()), float(bb[:, 1].min()),
                                  float(bb[:, 2].max()), float(bb[:, 3].max())]]},
            "temporal": {"interval": [[times[0], times[-1]]]},
        },
        "links": [],
        "stac_extensions": [],
        "summaries": {"platform": sorted({it["properties"]["platform"] for it in items}),
                      "constellation": ["sentinel-2"], "instruments": ["msi"]},
    }


def _site_grid(aop: SiteSpec, res: float) -> tuple[Affine, int, int]:
    xmin, ymin, xmax, ymax = _site_bounds(aop)
    return (Affine(res, 0, xmin, 0, -res, ymax), int(round((xmax - xmin) / res)),
            int(round((ymax - ymin) / res)))


def _sample_truth(aop: SiteSpec, scenes: Sequence[_Scene]):
    """Native (10 m) truth on the site grid from the scenes of one date (first with data wins)."""
    T, w, h = _site_grid(aop, 10.0)
    xs = T.c + (np.arange(w) + 0.5) * 10.0
    ys = T.f - (np.arange(h) + 0.5) * 10.0
    X, Y = np.meshgrid(xs, ys)
    refl = np.full((len(BAND_KEYS), h, w), np.nan)
    scl = np.zeros((h, w), np.uint8)
    source = np.zeros((h, w), np.uint8)
    done = np.zeros((h, w), bool)
    for k, sc in enumerate(scenes):
        g = sc.grid
        if g.epsg != aop.epsg:
            px, py = Transformer.from_crs(aop.epsg, g.epsg, always_xy=True).transform(X, Y)
        else:
            px, py = X, Y
        col = np.floor((px - g.x0) / 10.0).astype(int)
        row = np.floor((g.y0 - py) / 10.0).astype(int)
        inside = (col >= 0) & (col < g.width) & (row >= 0) & (row < g.height)
        c, r = np.clip(col, 0, g.width - 1), np.clip(row, 0, g.height - 1)
        s_here = np.where(inside, sc.scl[r // 2, c // 2], 0)
        has = s_here != 0
        source |= (has.astype(np.uint8) << k)
        take = has & ~done
        for b, key in enumerate(BAND_KEYS):
            refl[b][take] = sc.dn[key][r[take], c[take]] * SCALE + sc.offset
        scl[take] = s_here[take]
        done |= take
    return refl, scl, source


def mask_and_aggregate(refl10: np.ndarray, scl10: np.ndarray, mask_classes: Iterable[int],
                       resolution: float) -> tuple[np.ndarray, np.ndarray]:
    """(reflectance (4, H, W), ndvi (H, W)) float64 at ``resolution`` from the native truth.

    Masked where SCL is in ``mask_classes`` or there is no data. At a multiple of 10 m each
    pixel is the mean of its 10 m block, NaN if any of the block is masked; at other
    resolutions (e.g. 25 m) the 10 m pixel holding each pixel centre (a nearest sampling; such
    centres never fall on a 10 m pixel edge).
    """
    r = refl10.copy()
    r[:, np.isin(scl10, list(mask_classes)) | (scl10 == 0)] = np.nan
    k = resolution / 10.0
    nb, h, w = r.shape
    if abs(k - round(k)) < 1e-9:
        k = int(round(k))
        if k > 1:
            r = r.reshape(nb, h // k, k, w // k, k).mean(axis=(2, 4))
    else:
        rows = np.floor((np.arange(int(round(h * 10 / resolution))) + 0.5) * k).astype(int)
        cols = np.floor((np.arange(int(round(w * 10 / resolution))) + 0.5) * k).astype(int)
        r = r[:, rows][:, :, cols]
    red, nir = r[BAND_KEYS.index("red")], r[BAND_KEYS.index("nir")]
    with np.errstate(invalid="ignore", divide="ignore"):
        ndvi = (nir - red) / (nir + red)
    return r, ndvi


def _write_grid_tif(path: Path, arr: np.ndarray, aop: SiteSpec, res: float, dtype: str,
                    nodata, names: Sequence[str] | None = None) -> None:
    T, w, h = _site_grid(aop, res)
    a = arr[None] if arr.ndim == 2 else arr
    with atomic_path(path) as tmp:
        with rasterio.open(tmp, "w", driver="GTiff", width=w, height=h, count=a.shape[0],
                           dtype=dtype, crs=f"EPSG:{aop.epsg}", transform=T, nodata=nodata,
                           compress="deflate") as dst:
            dst.write(a.astype(dtype))
            for i, n in enumerate(names or [], 1):
                dst.set_band_description(i, n)


def _check_resolution(resolution: float) -> float:
    res = float(resolution)
    n = 1000.0 / res if res > 0 else 0.0
    if res <= 0 or abs(n - round(n)) > 1e-9:
        raise ConfigError(
            f"sentinel2.resolution: {resolution!r} m does not divide the 1000 m AOP tile "
            "(e.g. 10, 20, 25, 50, 100)"
        )
    return res


def write_demo_scenes(aop_spec: SiteSpec, s2_spec: S2DemoSpec, out_dir: str | Path,
                      resolution: float = 10, mask_classes: Iterable[int] = DEFAULT_MASK_CLASSES
                      ) -> Path:
    """Write the demo scenes, their ItemCollection and the ground truth; return items.json.

    ``resolution`` (m) and ``mask_classes`` only shape the truth files. See the module
    docstring for the layout. items.json is written last, so it exists only when all is done.
    """
    s2_spec.validate()
    res = _check_resolution(resolution)
    mask_classes = tuple(int(c) for c in mask_classes)
    out = Path(out_dir)
    cache: dict = {}
    scenes: list[_Scene] = []
    for k, s in enumerate(s2_spec.all_scenes()):
        sc = _make_scene(s2_spec, aop_spec, s, k, cache)
        d = out / "scenes" / sc.item_id
        for key in BAND_KEYS:
            _write_cog(d / f"{key}.tif", sc.dn[key], sc.grid, 10.0, "uint16", "average")
        _write_cog(d / "scl.tif", sc.scl, sc.grid, 20.0, "uint8", "nearest")
        scenes.append(sc)
        log.info("demo scene %s: %s, cloud %.1f %%", sc.item_id, sc.grid, 100 * s.cloud_fraction)
    ids = [sc.item_id for sc in scenes]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"demo scenes: duplicate item ids {sorted(ids)}")
    unknown = set(s2_spec.drop_raster_bands) - set(ids)
    if unknown:
        raise ConfigError(
            f"sentinel2.demo.drop_raster_bands: no demo item {sorted(unknown)}; items: {ids}"
        )
    items = [_item(s2_spec, sc, out / "scenes" / sc.item_id) for sc in scenes]

    # Truth per date; the site's zone first so "first with data" prefers the on-grid scene.
    by_date: dict[str, list[_Scene]] = {}
    for sc in scenes:
        by_date.setdefault(sc.scene.date, []).append(sc)
    summary = {"resolution": res, "mask_classes": list(mask_classes), "bands": list(BAND_KEYS),
               "dates": {}}
    for date, group in sorted(by_date.items()):
        group.sort(key=lambda sc: sc.grid.epsg != aop_spec.epsg)
        refl10, scl10, source = _sample_truth(aop_spec, group)
        tdir = out / "truth" / date
        _write_grid_tif(tdir / "native" / "reflectance.tif", refl10, aop_spec, 10.0, "float32",
                        np.nan, BAND_KEYS)
        _write_grid_tif(tdir / "native" / "scl.tif", scl10, aop_spec, 10.0, "uint8", None)
        _write_grid_tif(tdir / "native" / "source.tif", source, aop_spec, 10.0, "uint8", None)
        refl, ndvi = mask_and_aggregate(refl10, scl10, mask_classes, res)
        _write_grid_tif(tdir / "reflectance.tif", refl, aop_spec, res, "float32", np.nan, BAND_KEYS)
        _write_grid_tif(tdir / "ndvi.tif", ndvi, aop_spec, res, "float32", np.nan, ["ndvi"])
        summary["dates"][date] = {
            "items": [sc.item_id for sc in group],
            "epsg": [sc.grid.epsg for sc in group],
            "processing_baselines": [sc.scene.processing_baseline for sc in group],
            "offsets": [sc.offset for sc in group],
            "cloud_cover": [it["properties"]["eo:cloud_cover"] for it in items
                            if it["id"] in {sc.item_id for sc in group}],
            "valid_fraction": float(np.isfinite(ndvi).mean()),
        }
    with atomic_path(out / "truth" / "truth.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=1))
    with atomic_path(out / "collection.json") as tmp:
        tmp.write_text(json.dumps(collection_dict(items, s2_spec.collection), indent=1))
    path = out / "items.json"
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps({"type": "FeatureCollection", "features": items}, indent=1))
    return path


# --------------------------------------------------------------------------------------------
# Helpers for tests and servers


def load_truth(demo_dir: str | Path, date: str, mask_classes: Iterable[int] = DEFAULT_MASK_CLASSES,
               resolution: float = 10) -> dict[str, np.ndarray]:
    """Ground truth of one date recomputed for ``mask_classes`` and ``resolution``.

    Returns ``reflectance`` (4, H, W) float64 (bands :data:`BAND_KEYS`), ``ndvi`` (H, W),
    and at 10 m ``scl`` (uint8), ``source`` (uint8 bit mask of the date's items with data).
    """
    tdir = Path(demo_dir) / "truth" / date / "native"
    with rasterio.open(tdir / "reflectance.tif") as src:
        refl10 = src.read().astype(np.float64)
    with rasterio.open(tdir / "scl.tif") as src:
        scl10 = src.read(1)
    with rasterio.open(tdir / "source.tif") as src:
        source = src.read(1)
    refl, ndvi = mask_and_aggregate(refl10, scl10, mask_classes, _check_resolution(resolution))
    return {"reflectance": refl, "ndvi": ndvi, "scl": scl10, "source": source}


def drop_raster_bands(items_json: str | Path, item_id: str, out_path: str | Path | None = None) -> Path:
    """Remove ``raster:bands`` from every asset of one item (fault test); return the file."""
    src = Path(items_json)
    doc = json.loads(src.read_text())
    hit = [f for f in doc["features"] if f["id"] == item_id]
    if not hit:
        raise ConfigError(f"{src}: no item {item_id!r}")
    for a in hit[0]["assets"].values():
        a.pop("raster:bands", None)
    dst = Path(out_path) if out_path else src
    with atomic_path(dst) as tmp:
        tmp.write_text(json.dumps(doc, indent=1))
    return dst


def rewrite_hrefs(items: Sequence[Mapping], root: str | Path, base_url: str) -> list[dict]:
    """Copies of ``items`` whose local asset hrefs under ``root`` become ``base_url/<relpath>``."""
    root = Path(root).resolve()
    out = []
    for it in items:
        it = json.loads(json.dumps(it))
        for a in it["assets"].values():
            p = Path(a["href"])
            if p.is_absolute():
                rel = p.resolve().relative_to(root)
                a["href"] = base_url.rstrip("/") + "/" + rel.as_posix()
        out.append(it)
    return out


def write_served_items(items_json: str | Path, base_url: str, out_dir: str | Path,
                       root: str | Path | None = None, collection: str | None = None
                       ) -> tuple[Path, Path]:
    """Write ``collection.json`` and ``items.ndjson`` (for ``pypgstac load``) into ``out_dir``
    with asset hrefs rewritten to ``base_url`` (files relative to ``root``, default the
    directory of items.json). ``collection`` renames the collection. Returns both paths.
    """
    items_json = Path(items_json)
    doc = json.loads(items_json.read_text())
    items = rewrite_hrefs(doc["features"], root or items_json.parent, base_url)
    if collection:
        for it in items:
            it["collection"] = collection
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    coll = out / "collection.json"
    nd = out / "items.ndjson"
    with atomic_path(coll) as tmp:
        tmp.write_text(json.dumps(collection_dict(items, collection or items[0]["collection"])))
    with atomic_path(nd) as tmp:
        tmp.write_text("".join(json.dumps(it) + "\n" for it in items))
    return coll, nd


def demo_items(demo_dir: str | Path) -> list[dict]:
    """The items of a written demo (``items.json`` features)."""
    return json.loads((Path(demo_dir) / "items.json").read_text())["features"]


__all__ = [
    "BANDS", "BAND_KEYS", "DEFAULT_MASK_CLASSES", "DEFAULT_SCENES", "PRE04_SCENE", "S2DemoSpec",
    "S2Scene", "SCALE", "band_spectra", "boa_offset", "baseline_for_date", "decode_dn",
    "demo_items", "drop_raster_bands", "encode_dn", "greenness", "load_truth", "mgrs_tile",
    "rewrite_hrefs", "spectra_on", "write_demo_scenes", "write_served_items",
]
