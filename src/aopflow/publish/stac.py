"""The run's STAC catalog: ``{outdir}/{site}/{year}/stac/catalog.json``, self-contained.

Layout (STAC 1.1.0, written by pystac with relative hrefs, so the folder can be moved or served
as it is)::

    stac/catalog.json                      links: the two collections, config, report
    stac/{site}-{year}-aop/collection.json  assets: endmember spectra, class and zonal tables
    stac/{site}-{year}-aop/{item}/{item}.json   one item per site mosaic / downscaled product
    stac/{site}-{year}-s2/collection.json
    stac/{site}-{year}-s2/{item}/{item}.json    one item per Sentinel-2 date, one per composite

**One item per site product, not per tile**: the mosaics are the analysis-ready products (one
grid, one file each), and an item per product keeps a 30-tile site at a few dozen small JSON
files that ``odc.stac.load`` / ``stackstac`` open in one go; the per-tile GeoTIFFs are
intermediates of the mosaics. A Sentinel-2 date is one item whose assets (``ndvi``,
``reflectance``, ...) share the site grid, as in Earth Search.

Every raster asset carries, at asset level:

* projection extension v1.2.0: ``proj:code`` (``EPSG:32611``) and, for readers written before
  ``proj:code`` (stackstac 0.5, odc-stac < 0.4), ``proj:epsg`` (v1.2.0 is the last version that
  allows both; v2.0.0 forbids ``proj:epsg``); ``proj:shape``, ``proj:transform``,
  ``proj:bbox``;
* raster extension v1.1.0 (``raster:bands``: nodata, data_type, scale/offset, unit, statistics
  and histogram from :func:`rio_stac.stac.get_raster_info`, computed on an overview of at most
  1024 pixels on the long side, hence approximate for large mosaics);
* eo extension v1.1.0 (``eo:bands`` with ``center_wavelength`` in micrometres where known: the
  band names of the reflectance-derived GeoTIFFs are wavelengths in nm, the Sentinel-2 ones
  common names);
* file extension v2.1.0: ``file:size`` (bytes) and ``file:checksum`` as a multihash
  (``1220`` + hex SHA2-256; https://multiformats.io/multihash/).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import logging
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import pystac
import rasterio
import yaml
from rio_stac.stac import get_dataset_geom, get_raster_info

from aopflow.errors import InputDataError
from aopflow.products import product as product_of
from aopflow.publish.layout import (AOP, S2, TABLE_SUFFIXES, RasterFile, split_inputs,
                                    table_collection)

log = logging.getLogger(__name__)

#: Extension schemas the catalog declares (tests/data/stac_schemas holds copies of each).
#: Projection v1.2.0, not v2.0.0: v1.2.0 is the last version that allows both ``proj:code``
#: and the deprecated ``proj:epsg`` older readers need (v2.0.0 forbids ``proj:epsg``).
PROJECTION = "https://stac-extensions.github.io/projection/v1.2.0/schema.json"
RASTER = "https://stac-extensions.github.io/raster/v1.1.0/schema.json"
EO = "https://stac-extensions.github.io/eo/v1.1.0/schema.json"
FILE = "https://stac-extensions.github.io/file/v2.1.0/schema.json"
EXTENSIONS = (PROJECTION, RASTER, EO, FILE)

#: Multihash prefix of SHA2-256: code 0x12, digest length 0x20 (32 bytes).
SHA256_MULTIHASH_PREFIX = "1220"

#: Centre wavelengths (micrometres) of the Sentinel-2 bands by Earth Search asset key
#: (Sentinel-2A MSI spectral response, ESA S2-PDGS-TAS-DI-PSD).
S2_BANDS = {
    "coastal": ("B01", "coastal", 0.443), "blue": ("B02", "blue", 0.490),
    "green": ("B03", "green", 0.560), "red": ("B04", "red", 0.665),
    "rededge1": ("B05", "rededge", 0.704), "rededge2": ("B06", "rededge", 0.740),
    "rededge3": ("B07", "rededge", 0.783), "nir": ("B08", "nir", 0.842),
    "nir08": ("B8A", "nir08", 0.865), "nir09": ("B09", "nir09", 0.945),
    "swir16": ("B11", "swir16", 1.610), "swir22": ("B12", "swir22", 2.190),
}

#: A band description naming a wavelength: "550", "550.3 nm", or aopflow's "band9_672.5nm".
_NM = re.compile(r"^(?:.*?[_ ])?(\d+(?:\.\d+)?)\s*(?:nm)?\s*$")


def sha256_multihash(path: str | os.PathLike, chunk: int = 1 << 22) -> str:
    """``file:checksum`` of a file: the multihash of its SHA2-256 digest, lower-case hex."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return SHA256_MULTIHASH_PREFIX + h.hexdigest()


def band_entries(descriptions: Iterable[str | None]) -> list[dict]:
    """``eo:bands`` of a raster from its band descriptions.

    A description that ends in a wavelength in nanometres (``"550"``, ``"550.3 nm"``,
    ``"band9_672.5nm"``: how aopflow names reflectance-derived bands) gives
    ``center_wavelength`` in micrometres; a Sentinel-2 asset key (``red``, ``nir``) gives its band name, common name and centre wavelength; any
    other description is the band's name. Example: ``["650", "red", None]`` ->
    ``[{"name": "650", "center_wavelength": 0.65}, {"name": "B04", "common_name": "red",
    "center_wavelength": 0.665}, {"name": "b3"}]``.
    """
    out = []
    for i, d in enumerate(descriptions, start=1):
        d = (d or "").strip()
        if (m := _NM.match(d)) and (d.endswith("nm") or d.replace(".", "", 1).isdigit()):
            out.append({"name": d, "center_wavelength": round(float(m.group(1)) / 1000, 6)})
        elif d in S2_BANDS:
            name, common, wl = S2_BANDS[d]
            out.append({"name": name, "common_name": common, "center_wavelength": wl})
        else:
            out.append({"name": d or f"b{i}"})
    return out


def _json_number(v):
    """NaN/inf are not JSON: the raster extension writes them as strings ("nan")."""
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


def raster_asset(raster: RasterFile, href: str, categorical: bool) -> tuple[pystac.Asset, dict]:
    """The asset of one GeoTIFF (every field described in the module docstring) and the
    item-level facts taken from it: ``geometry``, ``bbox`` (EPSG:4326) and ``epsg``."""
    path = raster.path
    with rasterio.open(path) as src:
        if src.crs is None:
            raise InputDataError(f"{path}: no CRS; aopflow's rasters are georeferenced, so this "
                                 "file was not written by the workflow. Rerun its rule.")
        epsg = src.crs.to_epsg()
        geom = get_dataset_geom(src, densify_pts=0, precision=7)
        bands = get_raster_info(src, max_size=1024)
        descriptions = src.descriptions
        units = src.units
        fields: dict = {
            "proj:code": f"EPSG:{epsg}" if epsg else None,
            "proj:shape": [src.height, src.width],
            "proj:transform": list(src.transform)[:6],
            "proj:bbox": list(src.bounds),
        }
        if epsg:
            fields["proj:epsg"] = epsg  # readers before proj:code (stackstac 0.5.1)
        else:
            fields["proj:wkt2"] = src.crs.to_wkt()
    for b, unit in zip(bands, units):
        if "nodata" in b:
            b["nodata"] = _json_number(b["nodata"])
        if unit:
            b["unit"] = unit
        stats = b.get("statistics")
        if stats:
            b["statistics"] = {k: _json_number(v) for k, v in stats.items()}
    fields["raster:bands"] = bands
    fields["eo:bands"] = band_entries(descriptions)
    fields["file:size"] = os.path.getsize(path)
    fields["file:checksum"] = sha256_multihash(path)
    # The product table's kind, for readers choosing resampling (nearest for classes).
    fields["aopflow:kind"] = "classes" if categorical else "continuous"
    asset = pystac.Asset(
        href=href, media_type=pystac.MediaType.COG, title=f"{raster.product} ({raster.rel})",
        roles=["data"], extra_fields={k: v for k, v in fields.items() if v is not None},
    )
    return asset, {"geometry": geom["footprint"], "bbox": geom["bbox"], "epsg": epsg}


def _year_range(year: int) -> tuple[dt.datetime, dt.datetime]:
    return (dt.datetime(year, 1, 1, tzinfo=dt.timezone.utc),
            dt.datetime(year, 12, 31, 23, 59, 59, tzinfo=dt.timezone.utc))


def _day_range(date: str) -> tuple[dt.datetime, dt.datetime]:
    d = dt.datetime.strptime(date, "%Y-%m-%d").replace(tzinfo=dt.timezone.utc)
    return d, d + dt.timedelta(days=1) - dt.timedelta(seconds=1)


def composite_dates(path: str | os.PathLike) -> list[str]:
    """The dates a Sentinel-2 composite was made of: its GeoTIFF tag ``dates``
    (``2024-06-15;2024-08-04``, written by the composite stage); [] without the tag."""
    with rasterio.open(path) as src:
        tag = src.tags().get("dates", "")
    return sorted(d for d in tag.split(";") if re.fullmatch(r"\d{4}-\d{2}-\d{2}", d))


def _time_range(rasters: list[RasterFile], year: int) -> dict[str, tuple[dt.datetime, dt.datetime]]:
    """Item id -> (start, end) of each item of a collection.

    AOP products: the acquisition year (a mosaic merges flight lines of several days, which
    aopflow does not track). Sentinel-2: the date's day; a composite (or a product downscaled
    from one): the span of the dates in its ``dates`` tag, else of all the run's dates."""
    dates = sorted({r.date for r in rasters if r.date})
    out = {}
    for r in rasters:
        if r.date:
            out[r.item] = _day_range(r.date)
        elif r.collection == S2 and (used := composite_dates(r.path) or dates):
            out[r.item] = (_day_range(used[0])[0], _day_range(used[-1])[1])
        else:
            out[r.item] = _year_range(year)
    return out


def date_summary(path: Path) -> dict:
    """Properties of a Sentinel-2 date item from the date's ``summary.csv`` (written beside its
    rasters by the per-date job): ``aopflow:valid_fraction`` (of the area's pixels, 0-1, after
    the SCL mask); {} when there is no summary."""
    if not path.exists():
        return {}
    with open(path, newline="") as f:
        row = next(csv.DictReader(f), {})
    return {"aopflow:valid_fraction": float(row["valid_fraction"])} if "valid_fraction" in row else {}


def _union_bbox(bboxes: list[list[float]]) -> list[float]:
    return [min(b[0] for b in bboxes), min(b[1] for b in bboxes),
            max(b[2] for b in bboxes), max(b[3] for b in bboxes)]


def build_items(rasters: list[RasterFile], year: int,
                categorical: Iterable[str] = ()) -> dict[str, list[pystac.Item]]:
    """Collection (``aop``/``s2``) -> its items, one per item id of ``rasters``, each with one
    asset per raster (asset hrefs absolute here; :func:`write_catalog` makes them relative)."""
    categorical = list(categorical)
    spans = _time_range(rasters, year)
    by_item: dict[tuple[str, str], list[RasterFile]] = {}
    for r in sorted(rasters, key=lambda r: (r.collection, r.item, r.key)):
        by_item.setdefault((r.collection, r.item), []).append(r)
    out: dict[str, list[pystac.Item]] = {AOP: [], S2: []}
    for (collection, item_id), members in by_item.items():
        assets, facts = {}, []
        for r in members:
            if r.key in assets:
                raise InputDataError(f"{r.path}: a second raster for asset {r.key!r} of item "
                                     f"{item_id!r}; rename one of them.")
            kind = product_of(r.product, categorical).categorical
            asset, fact = raster_asset(r, str(Path(r.path).resolve()), kind)
            assets[r.key] = asset
            facts.append(fact)
        start, end = spans[item_id]
        bbox = _union_bbox([f["bbox"] for f in facts])
        geometry = facts[0]["geometry"] if len(facts) == 1 else {
            "type": "Polygon", "coordinates": [[[bbox[0], bbox[1]], [bbox[2], bbox[1]],
                                                [bbox[2], bbox[3]], [bbox[0], bbox[3]],
                                                [bbox[0], bbox[1]]]]}
        props = {"start_datetime": pystac.utils.datetime_to_str(start),
                 "end_datetime": pystac.utils.datetime_to_str(end)}
        if members[0].resolution_m:
            props["gsd"] = float(members[0].resolution_m)
        if members[0].date:
            props.update(date_summary(Path(members[0].path).parent / "summary.csv"))
        item = pystac.Item(id=item_id, geometry=geometry, bbox=bbox,
                           datetime=start if members[0].date else None, properties=props,
                           stac_extensions=list(EXTENSIONS))
        for key, asset in assets.items():
            item.add_asset(key, asset)
        out[collection].append(item)
    return out


def table_asset(path: Path, href: str) -> pystac.Asset:
    """A table (CSV, GeoPackage) as a collection asset with its size and checksum."""
    role = "metadata" if path.name in ("endmembers.csv",) else "data"
    return pystac.Asset(href=href, media_type=TABLE_SUFFIXES[path.suffix],
                        title=path.name, roles=[role],
                        extra_fields={"file:size": os.path.getsize(path),
                                      "file:checksum": sha256_multihash(path)})


def table_key(path: Path, root: Path) -> str:
    """Asset key of a table: its path under ``root`` with ``/`` as ``_``, without ``.csv``
    (``zonal/ndvi.csv`` -> ``zonal_ndvi``); other suffixes stay (``zonal_ndvi_gpkg``), so a
    table and its GeoPackage do not collide."""
    rel = path.resolve().relative_to(root.resolve())
    key = rel.with_suffix("").as_posix().replace("/", "_")
    return key if rel.suffix == ".csv" else key + rel.suffix.replace(".", "_")


@contextlib.contextmanager
def swapped_dir(path: Path) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``path``; when the block succeeds it replaces
    ``path`` (the old folder, if any, is renamed away then removed), otherwise it is removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent))
    try:
        yield tmp
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / path.name)
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_catalog(*, inputs: Iterable[str | os.PathLike], root: str | os.PathLike,
                  catalog: str | os.PathLike, site: str, year: int, config: Mapping,
                  report: str | os.PathLike | None = None,
                  categorical: Iterable[str] = ()) -> Path:
    """Write the self-contained STAC catalog of a run and return ``catalog``'s path.

    ``inputs``: the run's final products (rasters and tables; other files are ignored, see
    :mod:`aopflow.publish.layout`); ``root``: the site-year folder (``{outdir}/{site}/{year}``);
    ``catalog``: ``{root}/stac/catalog.json``; ``config``: the run's validated configuration,
    written beside the catalog as ``config.yaml`` and linked; ``report``: path of the HTML
    report (``snakemake --report``), linked when given (it need not exist yet);
    ``categorical``: extra class-map names (config ``zonal.categorical``).

    The catalog folder is rebuilt in a temporary folder and swapped in, so a reader never sees
    half a catalog and items of products that are gone do not linger.
    """
    root = Path(root)
    catalog = Path(catalog)
    rasters, tables = split_inputs(inputs, root)
    if not rasters:
        raise InputDataError(f"no published raster among the inputs under {root}: the catalog "
                             "needs at least one mosaic; check the publish rule's inputs.")
    items = build_items(rasters, year, categorical)
    cat = pystac.Catalog(
        id=f"aopflow-{site}-{year}",
        title=f"aopflow products of NEON site {site}, {year}",
        description=(f"Site mosaics and derived products of NEON AOP site {site} ({year}) and "
                     "the Sentinel-2 products on the same site, made by the aopflow workflow."),
    )
    titles = {AOP: f"NEON AOP products of {site} {year}",
              S2: f"Sentinel-2 L2A products over {site} {year}"}
    descriptions = {
        AOP: "Site mosaics (RGB, NDVI, abundances, class maps, ancillary layers, ...) and their "
             "downscaled versions, one item per product.",
        S2: "Sentinel-2 L2A products on the site grid: one item per used date, one per composite.",
    }
    collections = {}
    for key in (AOP, S2):
        if not items[key]:
            continue
        spans = [(pystac.utils.str_to_datetime(i.properties["start_datetime"]),
                  pystac.utils.str_to_datetime(i.properties["end_datetime"])) for i in items[key]]
        extent = pystac.Extent(
            pystac.SpatialExtent([_union_bbox([i.bbox for i in items[key]])]),
            pystac.TemporalExtent([[min(s for s, _ in spans), max(e for _, e in spans)]]),
        )
        col = pystac.Collection(id=f"{site}-{year}-{key}", title=titles[key],
                                description=descriptions[key], extent=extent,
                                license="other", stac_extensions=[FILE])
        col.add_items(items[key])
        cat.add_child(col)
        collections[key] = col
    for t in sorted(tables):
        key = table_collection(t.resolve().relative_to(root.resolve()).as_posix())
        col = collections.get(key) or collections.get(AOP) or collections[S2]
        col.add_asset(table_key(t, root), table_asset(t, str(t.resolve())))

    final = catalog.parent.resolve()
    with swapped_dir(final) as tmp_dir:
        (tmp_dir / "config.yaml").write_text(yaml.safe_dump(dict(config), sort_keys=False))
        cat.add_link(pystac.Link("describedby", "./config.yaml", media_type="application/yaml",
                                 title="aopflow configuration of this run"))
        if report is not None:
            rel = os.path.relpath(Path(report).resolve(), final)
            cat.add_link(pystac.Link("describedby", rel, media_type="text/html",
                                     title="aopflow report of this run (snakemake --report)"))
        cat.normalize_hrefs(str(tmp_dir / "catalog.json"))
        # Asset hrefs relative to where each JSON file will be once the folder is swapped in.
        for col in collections.values():
            col_dir = final / Path(col.self_href).parent.relative_to(tmp_dir)
            for asset in col.assets.values():
                asset.href = os.path.relpath(asset.href, col_dir)
            for item in col.get_items():
                item_dir = final / Path(item.self_href).parent.relative_to(tmp_dir)
                for asset in item.assets.values():
                    asset.href = os.path.relpath(asset.href, item_dir)
        cat.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    log.info("STAC catalog: %s (%d items, %d tables)", catalog,
             sum(len(v) for v in items.values()), len(tables))
    return catalog
