"""Overviews of the site rasters for the map: small web-Mercator PNGs with colour maps and legends.

A layer is rendered from the raster's overviews (the mosaics are COGs), warped to EPSG:3857 so
that it lines up with an optional web basemap, at most ``max_px`` pixels on its long side, and
encoded as an RGBA PNG (no-data transparent):

* class maps (:attr:`aopflow.products.Product.categorical`): nearest resampling, one colour
  per class (:data:`aopflow.products.WQI_COLORS` for the WQI, :data:`CLASS_COLORS` otherwise),
  a categorical legend whose labels come from the class table; an indexed (palette) PNG;
* three-band RGB: a per-band 2-98 % (``stretch_percent``) linear stretch, no legend;
* continuous single bands: a matplotlib colour ramp between the 2nd and 98th percentiles
  (``RdYlGn`` for vegetation indices, ``viridis`` otherwise, quantized to 255 colours: an
  indexed PNG, about a third of the bytes of RGBA), a colour-bar legend; a
  multi-band continuous raster (abundances) gives one layer per band.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from matplotlib import colormaps
from PIL import Image
from rasterio.enums import Resampling
from rasterio.warp import reproject, transform_bounds

from aopflow.errors import InputDataError
from aopflow.products import CLASS_COLORS, WQI_COLORS

#: Web Mercator, the CRS of Leaflet's default map (and of XYZ basemaps).
WEB_MERCATOR = "EPSG:3857"
#: Colour ramps by product name prefix; anything else continuous uses DEFAULT_RAMP.
RAMPS = {"ndvi": "RdYlGn", "s2_ndvi": "RdYlGn", "index_": "RdYlGn"}
DEFAULT_RAMP = "viridis"
#: Stops of a ramp's CSS gradient in the legend.
LEGEND_STOPS = 9


@dataclasses.dataclass
class Layer:
    """One map layer: ``png`` (bytes), its ``bounds`` ``[[south, west], [north, east]]`` in
    degrees, a ``legend`` (``{"type": "classes", "entries": [[colour, label], ...]}``,
    ``{"type": "ramp", "colours": [...], "min": v, "max": v, "unit": str}`` or None)."""

    name: str
    title: str
    group: str
    png: bytes
    bounds: list[list[float]]
    legend: dict | None
    shape: tuple[int, int]

    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


def ramp_name(product: str) -> str:
    """The colour ramp of a continuous product (see :data:`RAMPS`)."""
    for prefix, ramp in RAMPS.items():
        if product.startswith(prefix):
            return ramp
    return DEFAULT_RAMP


def read_web_mercator(path: str | Path, max_px: int, categorical: bool,
                      bands: Sequence[int] | None = None) -> tuple[np.ndarray, list[list[float]]]:
    """Read ``bands`` of ``path`` warped to EPSG:3857, at most ``max_px`` on the long side.

    Returns ``(array (bands, rows, cols) float64 with NaN where no data, bounds [[south,
    west], [north, east]] in degrees)``. The source is first read at about twice the target
    size from its overviews (``out_shape``), so a 30-tile 1 m mosaic is never read whole.
    """
    resampling = Resampling.nearest if categorical else Resampling.average
    with rasterio.open(path) as src:
        idx = list(bands or range(1, src.count + 1))
        f = max(1.0, max(src.width, src.height) / (2 * max_px))
        shape = (max(1, round(src.height / f)), max(1, round(src.width / f)))
        data = src.read(idx, out_shape=(len(idx), *shape), masked=True, resampling=resampling)
        arr = data.astype("float64").filled(np.nan)
        if src.nodata is not None and not math.isnan(src.nodata):
            arr[data.data == src.nodata] = np.nan
        transform = src.transform @ src.transform.scale(src.width / shape[1],
                                                        src.height / shape[0])
        # The web-Mercator grid over the raster's footprint: the long side max_px (never
        # finer than the source's long side).
        left, bottom, right, top = transform_bounds(src.crs, WEB_MERCATOR, *src.bounds,
                                                    densify_pts=21)
        px = max(right - left, top - bottom) / min(max_px, max(src.width, src.height))
        w, h = max(1, round((right - left) / px)), max(1, round((top - bottom) / px))
        # Pixel sizes adjusted to the footprint (within half a pixel of square), so that the
        # overlay's bounds are the raster's.
        dst_transform = Affine((right - left) / w, 0.0, left, 0.0, -(top - bottom) / h, top)
        out = np.full((len(idx), h, w), np.nan)
        reproject(arr, out, src_transform=transform, src_crs=src.crs, src_nodata=np.nan,
                  dst_transform=dst_transform, dst_crs=WEB_MERCATOR, dst_nodata=np.nan,
                  resampling=resampling)
    west, south, east, north = transform_bounds(WEB_MERCATOR, "EPSG:4326", left, bottom, right, top)
    return out, [[south, west], [north, east]]


def _hex_rgb(colour: str) -> tuple[int, int, int]:
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def class_colours(product: str, codes: Sequence[int],
                  labels: Mapping[int, str] | None = None) -> list[tuple[int, str, str]]:
    """``(code, colour, label)`` of each class code of a class map, for colouring and legend.

    WQI: the stop-light colours and labels of :data:`aopflow.products.WQI_COLORS`; any other
    class map: code 0 white ("unclassified"), code ``k`` ``CLASS_COLORS[(k-1) % 12]``, labelled
    from ``labels`` (the class table) or "class k"."""
    labels = dict(labels or {})
    out = []
    for code in sorted(int(c) for c in codes):
        if product == "wqi" and code in WQI_COLORS:
            colour, label = WQI_COLORS[code]
        elif code == 0:
            colour, label = "#ffffff", labels.get(0, "unclassified")
        else:
            colour = CLASS_COLORS[(code - 1) % len(CLASS_COLORS)]
            label = labels.get(code, f"class {code}")
        out.append((code, colour, f"{code}: {label}"))
    return out


#: Palette index of no data in an indexed (palette) image: transparent.
TRANSPARENT = 255


def colour_classes(arr: np.ndarray, product: str, labels: Mapping[int, str] | None
                   ) -> tuple[np.ndarray, np.ndarray, dict]:
    """An indexed image of a class map ``(rows, cols)`` (NaN = no data): ``(index uint8
    (rows, cols), palette uint8 (256, 4) RGBA, legend of the codes present)``; ``palette[index]``
    is the RGBA image. Up to 255 classes (index 255 is no data, transparent)."""
    valid = np.isfinite(arr)
    codes = np.unique(arr[valid]).astype(int) if valid.any() else np.array([], int)
    if len(codes) > TRANSPARENT:
        raise InputDataError(f"class map {product}: {len(codes)} classes, the map draws at "
                             f"most {TRANSPARENT}; leave it out of publishing or merge classes.")
    index = np.full(arr.shape, TRANSPARENT, np.uint8)
    palette = np.zeros((256, 4), np.uint8)
    entries = []
    for i, (code, colour, label) in enumerate(class_colours(product, codes, labels)):
        index[valid & (arr == code)] = i
        palette[i] = (*_hex_rgb(colour), 255)
        entries.append([colour, label])
    return index, palette, {"type": "classes", "entries": entries}


def percentile_range(arr: np.ndarray, pct: float) -> tuple[float, float]:
    """(low, high) percentiles of the finite values (``pct`` and ``100 - pct``); (0, 1) if none."""
    v = arr[np.isfinite(arr)]
    if v.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(v, (pct, 100 - pct))
    if hi <= lo:
        hi = lo + (abs(lo) * 1e-6 or 1e-6)
    return float(lo), float(hi)


def colour_ramp(arr: np.ndarray, ramp: str, vmin: float, vmax: float, unit: str = ""
                ) -> tuple[np.ndarray, np.ndarray, dict]:
    """An indexed image of a continuous band ``(rows, cols)`` on the matplotlib colour map
    ``ramp`` between ``vmin`` and ``vmax`` (clipped): ``(index uint8 (rows, cols), palette
    uint8 (256, 4) RGBA, legend)``. Values map to the 255 palette entries 0..254
    (``round(254 * (v - vmin) / (vmax - vmin))``: entry 0 is the ramp's start, 254 its end),
    NaN to entry 255, transparent. An indexed PNG is a quarter of the pixels of an RGBA one."""
    cmap = colormaps[ramp]
    valid = np.isfinite(arr)
    t = np.clip((np.nan_to_num(arr, nan=vmin) - vmin) / (vmax - vmin), 0, 1)
    index = np.where(valid, np.round(t * (TRANSPARENT - 1)), TRANSPARENT).astype(np.uint8)
    palette = np.zeros((256, 4), np.uint8)
    palette[:TRANSPARENT] = (cmap(np.linspace(0, 1, TRANSPARENT)) * 255).round()
    palette[:TRANSPARENT, 3] = 255
    stops = ["#%02x%02x%02x" % tuple(int(round(c * 255)) for c in cmap(x)[:3])
             for x in np.linspace(0, 1, LEGEND_STOPS)]
    return index, palette, {"type": "ramp", "colours": stops, "min": vmin, "max": vmax,
                            "unit": unit}


def stretch_rgb(arr: np.ndarray, pct: float) -> np.ndarray:
    """RGBA uint8 of a ``(3, rows, cols)`` reflectance triple, each band stretched linearly
    between its ``pct`` and ``100 - pct`` percentiles; transparent where any band is NaN."""
    rgba = np.zeros(arr.shape[1:] + (4,), np.uint8)
    for i in range(3):
        lo, hi = percentile_range(arr[i], pct)
        rgba[..., i] = (np.clip((np.nan_to_num(arr[i], nan=lo) - lo) / (hi - lo), 0, 1)
                        * 255).round()
    rgba[..., 3] = np.where(np.all(np.isfinite(arr), axis=0), 255, 0)
    return rgba


#: zlib level of the PNGs: 6 is 2.5x faster than 9 (or optimize=True) for 3 % larger files.
PNG_COMPRESS_LEVEL = 6


def encode_png(rgba: np.ndarray) -> bytes:
    """PNG bytes of an RGBA uint8 image ``(rows, cols, 4)``."""
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buf.getvalue()


def encode_indexed_png(index: np.ndarray, palette: np.ndarray) -> bytes:
    """PNG bytes of an indexed image: ``index`` uint8 ``(rows, cols)`` into ``palette`` uint8
    ``(256, 4)`` RGBA (the alpha column becomes the PNG's tRNS chunk)."""
    img = Image.fromarray(index, "P")
    img.putpalette(palette[:, :3].ravel().tobytes(), rawmode="RGB")
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=PNG_COMPRESS_LEVEL,
             transparency=palette[:, 3].tobytes())
    return buf.getvalue()


def render_raster(path: str | Path, *, name: str, product: str, title: str, group: str,
                  categorical: bool, max_px: int, stretch_percent: float = 2.0,
                  class_labels: Mapping[int, str] | None = None) -> list[Layer]:
    """The map layers of one raster (one, or one per band of a multi-band continuous raster
    other than a 3-band RGB; see the module docstring). ``name`` is the layer's id (``ndvi_50m``),
    ``product`` the product-table name that picks its colours (``ndvi``)."""
    with rasterio.open(path) as src:
        count, descriptions, units = src.count, src.descriptions, src.units
    if categorical:
        arr, bounds = read_web_mercator(path, max_px, True, [1])
        index, palette, legend = colour_classes(arr[0], product, class_labels)
        return [Layer(name, title, group, encode_indexed_png(index, palette), bounds, legend,
                      index.shape)]
    if count == 3 and product == "rgb":
        arr, bounds = read_web_mercator(path, max_px, False)
        rgba = stretch_rgb(arr, stretch_percent)
        return [Layer(name, title, group, encode_png(rgba), bounds, None, rgba.shape[:2])]
    layers = []
    for b in range(1, count + 1):
        arr, bounds = read_web_mercator(path, max_px, False, [b])
        lo, hi = percentile_range(arr[0], stretch_percent)
        index, palette, legend = colour_ramp(arr[0], ramp_name(product), lo, hi,
                                             units[b - 1] or "")
        if count == 1:
            lname, ltitle = name, title
        else:
            band = descriptions[b - 1] or f"band {b}"
            lname, ltitle = f"{name}.{b}", f"{title}: {band}"
        layers.append(Layer(lname, ltitle, group, encode_indexed_png(index, palette), bounds,
                            legend, index.shape))
    return layers
