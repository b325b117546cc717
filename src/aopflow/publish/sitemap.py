"""The offline site map: one self-contained HTML file (``{outdir}/{site}/{year}/map.html``).

Why Leaflet, vendored: the map must open from a file on a machine without internet, so every
script, style and image is inlined. folium (0.20) builds Leaflet maps but links 4 scripts and
6 style sheets from CDNs (Leaflet, jQuery, Bootstrap 3 and 5, Font Awesome, awesome-markers),
and has no option to embed them: making it offline means shipping and rewriting all ten, most
of which this map does not use (and Font Awesome loads fonts from its CSS). bokeh can inline its
resources but brings a ~1.5 MB runtime and draws maps as plots (no popups on shapes). Leaflet
1.9.4 alone (BSD-2-Clause, 147 kB, stable API, maintained) is shipped in
``aopflow/publish/vendor/leaflet`` with its licence (fetched once with ``npm pack
leaflet@1.9.4``) and inlined into every map, with its images as data URIs.

What the map holds:

* every site raster as a switchable image overlay rendered by :mod:`aopflow.publish.render`
  (web Mercator, at most ``max_px`` on the long side, PNG) with its legend;
* the tile grid (``tiles.csv``) and the plots (from a zonal GeoPackage), whose popups show each
  zonal table's statistics for the plot and a sparkline of the Sentinel-2 NDVI time series;
* a metric scale bar; an XYZ basemap only when ``basemap`` is set (off by default: the map
  then makes no request at all).

Size budget: layers are rendered at ``max_px`` (default 1024) on the long side; when their
PNGs together exceed ``max_mb`` (default 15 MB) every layer is rendered again smaller (side
scaled by the square root of the excess), so a 30-tile site with ~25 layers stays under the
budget; :func:`write_site_map` raises if it cannot.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from aopflow.errors import InputDataError
from aopflow.io import atomic_path
from aopflow.products import product as product_of
from aopflow.publish.layout import AOP, S2, RasterFile, split_inputs, table_collection
from aopflow.publish.render import Layer, render_raster

log = logging.getLogger(__name__)

#: Layer groups in the layer control, in order, and which rasters go in them.
GROUPS = ("AOP mosaics", "Sentinel-2", "Downscaled")
#: Smallest overview side the budget may shrink layers to.
MIN_PX = 128


def map_rasters(rasters: Sequence[RasterFile]) -> list[tuple[RasterFile, str]]:
    """The rasters drawn on the map, each with its group: site mosaics (not the reflectance
    cube), the Sentinel-2 composites of all used dates (not per date or period: those are in
    the catalog and in the sparklines) except the multi-band reflectance, and downscaled
    products."""
    out = []
    for r in rasters:
        if r.rel.startswith("mosaic/") and r.product != "reflectance":
            out.append((r, GROUPS[0]))
        elif r.item == "composite" and r.key != "reflectance_median":
            out.append((r, GROUPS[1]))
        elif r.rel.startswith("downscale/") and not r.product.startswith(("reflectance",
                                                                          "s2_reflectance")):
            out.append((r, GROUPS[2]))
    order = {g: i for i, g in enumerate(GROUPS)}
    first = {"rgb": 0, "ndvi": 1}
    return sorted(out, key=lambda rg: (order[rg[1]], first.get(rg[0].item, 2), rg[0].item))


def class_labels_from_table(path: str | os.PathLike) -> dict[int, str]:
    """Class code -> label from a class table (CSV).

    Two layouts are read: a table with an integer ``code``/``class``/``value`` column and a
    ``label``/``name``/``species``/``taxon`` column (one row per class), or aopflow's
    ``endmembers.csv`` (``wavelength_nm`` then one column per endmember: class ``k`` is the
    ``k``-th endmember of SAM/SID)."""
    t = pd.read_csv(path)
    cols = {c.lower(): c for c in t.columns}
    if "wavelength_nm" in cols:
        return {i: str(c) for i, c in enumerate(t.columns[1:], start=1)}
    code = next((cols[c] for c in ("code", "class", "value", "class_code") if c in cols), None)
    label = next((cols[c] for c in ("label", "name", "species", "scientificname",
                                    "scientific_name", "taxon", "taxonid", "taxon_id")
                  if c in cols), None)
    if code is None or label is None:
        raise InputDataError(
            f"{path}: a class table needs a code column (code, class or value) and a label "
            f"column (label, name, species or taxon); it has {list(t.columns)}.")
    return {int(c): str(v) for c, v in zip(t[code], t[label])}


#: Suffix of a class map's class table: ``mosaic/{name}.tif`` is labelled from
#: ``mosaic/{name}_classes.csv`` or from a stage's own ``{name}/classes.csv`` (the species
#: stage's ``species/classes.csv``) when that table is among the published files.
CLASS_TABLE_SUFFIX = "_classes"
#: Class maps labelled by the endmember table (class k = k-th endmember).
ENDMEMBER_CLASS_MAPS = ("sam", "sid")


def class_tables_of(tables: Iterable[Path]) -> dict[str, Path]:
    """Class-map product -> its class table among the published ``tables`` (see
    :data:`CLASS_TABLE_SUFFIX`; ``endmembers.csv`` for SAM and SID)."""
    out = {}
    for t in tables:
        if t.suffix != ".csv":
            continue
        if t.name == "endmembers.csv":
            out.update(dict.fromkeys(ENDMEMBER_CLASS_MAPS, t))
        elif t.stem.endswith(CLASS_TABLE_SUFFIX):
            out[t.stem[: -len(CLASS_TABLE_SUFFIX)]] = t
        elif t.name == "classes.csv":
            out[t.parent.name] = t
    return out


def format_value(v) -> str:
    """How a statistic is shown in a popup (4 significant digits; '-' for no data). The map
    test formats the CSV's value with this function, so the two cannot drift."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    if isinstance(v, (int, np.integer)) or (isinstance(v, float) and v.is_integer()
                                            and abs(v) < 1e6):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return f"{v:.4g}"
    return html.escape(str(v))


def sparkline_svg(dates: Sequence[str], values: Sequence[float], width: int = 180,
                  height: int = 44) -> str:
    """Inline SVG sparkline of a time series (NaN values skipped), with the first/last dates
    and the value range as text; an empty string for fewer than one finite value."""
    pts = [(d, float(v)) for d, v in zip(dates, values) if v is not None and math.isfinite(v)]
    if not pts:
        return ""
    t = pd.to_datetime([d for d, _ in pts])
    x0, x1 = t.min().value, t.max().value
    vals = [v for _, v in pts]
    lo, hi = min(vals), max(vals)
    pad = 4

    def xy(ti, v):
        x = pad + (width - 2 * pad) * ((ti.value - x0) / (x1 - x0) if x1 > x0 else 0.5)
        y = pad + (height - 2 * pad) * (1 - ((v - lo) / (hi - lo) if hi > lo else 0.5))
        return f"{x:.1f},{y:.1f}"

    poly = " ".join(xy(ti, v) for ti, v in zip(t, vals))
    dots = "".join(f'<circle cx="{xy(ti, v).split(",")[0]}" cy="{xy(ti, v).split(",")[1]}" '
                   f'r="2"><title>{d}: {v:.3f}</title></circle>'
                   for ti, (d, v) in zip(t, pts))
    return (f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
            f'<polyline fill="none" stroke="#1a7f37" stroke-width="1.5" points="{poly}"/>'
            f'<g fill="#1a7f37">{dots}</g></svg>'
            f'<div class="spark-caption">Sentinel-2 NDVI {pts[0][0]} to {pts[-1][0]}, '
            f'{lo:.2f} to {hi:.2f} ({len(pts)} dates)</div>')


def _read_tables(tables: Iterable[Path], id_column: str, root: Path | None = None
                 ) -> tuple[dict[str, pd.DataFrame], pd.DataFrame | None]:
    """Zonal tables (name -> rows by plot id) and the Sentinel-2 time series among ``tables``.

    Told apart by place and content: the time series is a Sentinel-2 table
    (:func:`~aopflow.publish.layout.table_collection`) with the plot id and a ``date`` column;
    a zonal statistics table sits in ``zonal/`` with the plot id and no ``date``. Other tables
    with a plot id column (the species stage's ``species/stems.csv``, say) are neither."""
    zonal, series = {}, None
    for t in sorted(tables):
        if t.suffix != ".csv":
            continue
        rel = t.relative_to(root).as_posix() if root is not None and t.is_relative_to(root) else t.as_posix()
        is_s2 = table_collection(rel) == S2
        if not (is_s2 or rel.startswith("zonal/") or "/zonal/" in rel):
            continue
        head = pd.read_csv(t, nrows=0)
        if id_column not in head.columns:
            continue
        df = pd.read_csv(t, dtype={id_column: str})
        if "date" in df.columns:
            if is_s2:
                series = df
        elif not is_s2:
            zonal[t.stem] = df.set_index(id_column)
    return zonal, series


#: Statistics shown in a popup (the zonal tables hold many more; the popup stays readable):
#: the mean of a continuous raster (``mean``, ``b2_mean`` per band, ``s2_mean``...), the
#: majority class and the class fractions of a class map.
POPUP_STATS = re.compile(r"^(mean|majority)$|_mean$|^frac_")


def plot_popup(plot_id: str, zonal: Mapping[str, pd.DataFrame], series: pd.DataFrame | None,
               id_column: str, value_column: str = "mean") -> str:
    """HTML of a plot's popup: one table row per (zonal raster, statistic in
    :data:`POPUP_STATS`) and the sparkline
    of the plot's used Sentinel-2 dates (``used`` true, ``value_column``)."""
    rows = []
    for name, df in zonal.items():
        if plot_id not in df.index:
            continue
        rec = df.loc[plot_id]
        if isinstance(rec, pd.DataFrame):
            rec = rec.iloc[0]
        for stat, v in rec.items():
            if isinstance(v, str) or not POPUP_STATS.search(str(stat)):
                continue
            rows.append(f'<tr data-raster="{html.escape(name)}" data-stat="{html.escape(str(stat))}">'
                        f"<td>{html.escape(name)}</td><td>{html.escape(str(stat))}</td>"
                        f"<td>{format_value(v)}</td></tr>")
    spark = ""
    if series is not None:
        s = series[series[id_column] == plot_id]
        if "used" in s.columns:
            s = s[s["used"].astype(str).str.lower() == "true"]
        s = s.sort_values("date")
        spark = sparkline_svg(list(s["date"]), list(s[value_column].astype(float)))
    table = ('<table class="stats"><tr><th>raster</th><th>statistic</th><th>value</th></tr>'
             + "".join(rows) + "</table>") if rows else "<p>no zonal statistics</p>"
    return f'<div class="plot-popup"><h4>{html.escape(id_column)} {html.escape(plot_id)}</h4>{table}{spark}</div>'


def plots_geojson(gpkg: Path | None, zonal, series, id_column: str) -> dict | None:
    """The plots (from a zonal GeoPackage) as GeoJSON in EPSG:4326 with their popup HTML."""
    if gpkg is None:
        return None
    import geopandas as gpd

    gdf = gpd.read_file(gpkg)
    if id_column not in gdf.columns:
        raise InputDataError(f"{gpkg}: no plot id column {id_column!r} (zonal.id_column); it "
                             f"has {list(gdf.columns)}.")
    gdf = gdf[[id_column, "geometry"]].to_crs("EPSG:4326")
    gdf[id_column] = gdf[id_column].astype(str)
    gdf["popup"] = [plot_popup(p, zonal, series, id_column) for p in gdf[id_column]]
    return json.loads(gdf.to_json(drop_id=True))


def tiles_geojson(tiles_csv: Path | None) -> dict | None:
    """The tile grid from ``tiles.csv`` (columns tile, epsg, left, bottom, right, top) as
    GeoJSON polygons in EPSG:4326."""
    if tiles_csv is None:
        return None
    from rasterio.warp import transform_geom

    t = pd.read_csv(tiles_csv, dtype={"tile": str})
    feats = []
    for r in t.itertuples():
        ring = [[r.left, r.bottom], [r.right, r.bottom], [r.right, r.top], [r.left, r.top],
                [r.left, r.bottom]]
        geom = transform_geom(f"EPSG:{int(r.epsg)}", "EPSG:4326",
                              {"type": "Polygon", "coordinates": [ring]}, precision=7)
        feats.append({"type": "Feature", "properties": {"tile": r.tile}, "geometry": geom})
    return {"type": "FeatureCollection", "features": feats}


def render_layers(rasters: Sequence[tuple[RasterFile, str]], max_px: int,
                  stretch_percent: float, categorical: Iterable[str],
                  class_tables: Mapping[str, Path]) -> list[Layer]:
    """Every layer of the map at ``max_px`` (see :func:`aopflow.publish.render.render_raster`)."""
    categorical = list(categorical)
    layers = []
    for r, group in rasters:
        kind = product_of(r.product, categorical).categorical
        labels = None
        if kind and r.product in class_tables:
            labels = class_labels_from_table(class_tables[r.product])
        if r.resolution_m:
            source = f"Sentinel-2 {r.key[3:].replace('_', ' ')}" if r.collection != AOP else r.key
            name, title = r.item, f"{source} ({r.resolution_m} m)"
        elif r.collection == AOP:
            name, title = r.item, r.item
        else:
            name, title = r.product, f"Sentinel-2 {r.key.replace('_', ' ')}"
        layers += render_raster(r.path, name=name, product=r.product, title=title, group=group,
                                categorical=kind, max_px=max_px, stretch_percent=stretch_percent,
                                class_labels=labels)
    return layers


def layers_within_budget(rasters, *, max_px: int, max_mb: float, stretch_percent: float,
                         categorical: Iterable[str], class_tables) -> list[Layer]:
    """Layers rendered at ``max_px``, smaller when their PNGs exceed ``max_mb`` in total."""
    categorical = list(categorical)
    px = max_px
    while True:
        layers = render_layers(rasters, px, stretch_percent, categorical, class_tables)
        total = sum(len(l.png) for l in layers) * 4 / 3  # base64 in the page
        if total <= max_mb * 2**20:
            return layers
        if px <= MIN_PX:
            raise InputDataError(
                f"the map's {len(layers)} layers take {total / 2**20:.1f} MB even at {px} px; "
                f"raise publish.map_max_mb (now {max_mb}) or publish fewer products.")
        new = max(MIN_PX, int(px * math.sqrt(max_mb * 2**20 / total) * 0.95))
        log.info("map layers %.1f MB at %d px > %s MB: rendering at %d px", total / 2**20, px,
                 max_mb, new)
        px = new


def _vendor(name: str) -> str:
    return resources.files("aopflow.publish").joinpath("vendor", "leaflet", name).read_text(
        encoding="utf-8")


def leaflet_assets() -> tuple[str, str]:
    """(Leaflet's JS, Leaflet's CSS with its images inlined as data URIs), for inlining."""
    js = "\n".join(l for l in _vendor("leaflet.js").splitlines()
                   if not l.startswith("//# sourceMappingURL"))
    css = _vendor("leaflet.css")
    images = resources.files("aopflow.publish").joinpath("vendor", "leaflet", "images")

    def inline(m: re.Match) -> str:
        data = images.joinpath(m.group(1)).read_bytes()
        return f"url(data:image/png;base64,{base64.b64encode(data).decode()})"

    css = re.sub(r"url\(images/([A-Za-z0-9_.-]+\.png)\)", inline, css)
    return js, css


def _layer_json(layer: Layer) -> dict:
    return {"name": layer.name, "title": layer.title, "group": layer.group,
            "src": layer.data_uri(), "bounds": layer.bounds, "legend": layer.legend,
            "shape": list(layer.shape)}


def _script_json(obj) -> str:
    """JSON safe inside <script> (no '</' sequence can close the element)."""
    return json.dumps(obj, separators=(",", ":")).replace("</", "<\\/")


def site_map_html(*, title: str, layers: Sequence[Layer], tiles: dict | None,
                  plots: dict | None, basemap: Mapping | None, links: Mapping[str, str]) -> str:
    """The map page (see the module docstring)."""
    js, css = leaflet_assets()
    data = {"title": title, "layers": [_layer_json(l) for l in layers], "tiles": tiles,
            "plots": plots, "basemap": dict(basemap) if basemap else None, "links": dict(links)}
    page = resources.files("aopflow.publish").joinpath("sitemap.html").read_text(encoding="utf-8")
    return (page.replace("/*LEAFLET_CSS*/", css).replace("/*LEAFLET_JS*/", js)
            .replace("{{TITLE}}", html.escape(title))
            .replace("/*AOPFLOW_DATA*/", _script_json(data)))


def write_site_map(*, inputs: Iterable[str | os.PathLike], root: str | os.PathLike,
                   html_path: str | os.PathLike, site: str, year: int, id_column: str,
                   tiles_csv: str | os.PathLike | None = None, max_px: int = 1024,
                   max_mb: float = 15.0, stretch_percent: float = 2.0,
                   categorical: Iterable[str] = (), basemap: Mapping | None = None, catalog: str | os.PathLike | None = None,
                   report: str | os.PathLike | None = None) -> Path:
    """Write the site map of a run (module docstring) and return its path.

    ``inputs``: the run's final products (as for the catalog); ``root``: the site-year folder;
    ``id_column``: the plots' id column (``zonal.id_column``); ``categorical``: extra class-map
    names (``zonal.categorical``), labelled from their class tables (:func:`class_tables_of`);
    ``basemap``: ``{"url": XYZ
    template, "attribution": text}`` or None; ``catalog``/``report``: linked from the map.
    """
    root = Path(root)
    html_path = Path(html_path)
    rasters, tables = split_inputs(inputs, root)
    drawn = map_rasters(rasters)
    if not drawn:
        raise InputDataError(f"no site raster among the inputs under {root} to draw on the map.")
    zonal, series = _read_tables(tables, id_column, root)
    gpkg = next((t for t in sorted(tables) if t.suffix == ".gpkg" and t.stem in zonal), None)
    layers = layers_within_budget(drawn, max_px=max_px, max_mb=max_mb,
                                  stretch_percent=stretch_percent, categorical=categorical,
                                  class_tables=class_tables_of(tables))
    links = {}
    for label, target in (("STAC catalog", catalog), ("report", report)):
        if target is not None:
            links[label] = os.path.relpath(Path(target).resolve(), html_path.parent.resolve())
    page = site_map_html(title=f"aopflow: {site} {year}", layers=layers,
                         tiles=tiles_geojson(Path(tiles_csv) if tiles_csv else None),
                         plots=plots_geojson(gpkg, zonal, series, id_column), basemap=basemap,
                         links=links)
    with atomic_path(html_path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    log.info("site map %s: %d layers, %.1f MB", html_path, len(layers),
             os.path.getsize(html_path) / 2**20)
    return html_path
