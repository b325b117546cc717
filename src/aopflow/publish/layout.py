"""Which file of a run is which published product, by where the stages write it.

The catalog and the map are generic over the products a run makes: a raster is published
because its path (relative to ``{outdir}/{site}/{year}``) matches one of :data:`RASTER_PATTERNS`,
and its kind (class map or continuous) comes from :func:`aopflow.products.product`. A new
mosaic (``mosaic/species.tif``, ``mosaic/index_EVI.tif``) therefore appears in both without an
edit here.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from pathlib import Path

from aopflow.errors import InputDataError

#: Collection of the AOP products and of the Sentinel-2 products (item ids are prefixed by them).
AOP, S2 = "aop", "s2"

#: (pattern of a raster's path relative to the site-year folder, collection, item id, asset key).
#: Item ids and asset keys are format strings over the pattern's named groups.
RASTER_PATTERNS: tuple[tuple[re.Pattern, str, str, str], ...] = (
    (re.compile(r"mosaic/(?P<name>[A-Za-z0-9_.-]+)\.tif"), AOP, "{name}", "{name}"),
    (re.compile(r"downscale/(?P<name>s2_[A-Za-z0-9_.-]+)_(?P<res>\d+)m\.tif"), S2,
     "{name}_{res}m", "{name}"),
    (re.compile(r"downscale/(?P<name>[A-Za-z0-9_.-]+)_(?P<res>\d+)m\.tif"), AOP,
     "{name}_{res}m", "{name}"),
    (re.compile(r"s2/dates/(?P<date>\d{4}-\d{2}-\d{2})/(?P<name>[A-Za-z0-9_-]+)\.tif"), S2,
     "{date}", "{name}"),
    (re.compile(r"s2/composite/(?P<name>[A-Za-z0-9_-]+)\.tif"), S2, "composite", "{name}"),
    (re.compile(r"s2/composite/(?P<period>[A-Za-z0-9-]+)/(?P<name>[A-Za-z0-9_-]+)\.tif"), S2,
     "composite-{period}", "{name}"),
)

#: Table files published as collection-level assets (endmember spectra, class tables, zonal
#: statistics, comparison tables); the collection is S2 for Sentinel-2 tables.
TABLE_SUFFIXES = {".csv": "text/csv", ".gpkg": "application/geopackage+sqlite3"}


#: A table of the Sentinel-2 products: under s2/, or named s2_* / aop_vs_s2* (the comparison).
_S2_TABLE = re.compile(r"^s2/|(^|/)(s2_|aop_vs_s2)")


def table_collection(rel: str) -> str:
    """The collection (``aop`` or ``s2``) of a table at ``rel`` (relative to the site-year
    folder): ``s2/timeseries/ndvi.csv``, ``zonal/s2_ndvi_timeseries.csv`` and
    ``tables/aop_vs_s2.csv`` are Sentinel-2 tables; ``endmembers.csv``, ``zonal/ndvi.csv`` AOP."""
    return S2 if _S2_TABLE.search(rel) else AOP


@dataclasses.dataclass(frozen=True)
class RasterFile:
    """One published raster: ``path`` (absolute or relative to the working directory),
    ``rel`` (relative to the site-year folder), its collection, item id and asset key.

    ``product`` is the name the product table knows it by (``ndvi``, ``sam``,
    ``s2_ndvi_median``, ...); ``date`` the Sentinel-2 date of a per-date raster.
    """

    path: Path
    rel: str
    collection: str
    item: str
    key: str
    product: str
    date: str | None = None
    period: str | None = None
    resolution_m: int | None = None


def classify_raster(path: Path, root: Path) -> RasterFile | None:
    """The :class:`RasterFile` of ``path`` under ``root`` (the site-year folder), or None when
    it is not a published raster (a per-tile GeoTIFF, a demo scene, a figure)."""
    rel = Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
    for pattern, collection, item, key in RASTER_PATTERNS:
        m = pattern.fullmatch(rel)
        if not m:
            continue
        g = m.groupdict()
        name = g["name"]
        if rel.startswith("s2/") and not name.startswith("s2_"):
            product = f"s2_{name}" if "date" not in g else f"s2_{name}_{g['date']}"
        else:
            product = name
        return RasterFile(
            path=Path(path), rel=rel, collection=collection, item=item.format(**g),
            key=key.format(**g), product=product, date=g.get("date"), period=g.get("period"),
            resolution_m=int(g["res"]) if "res" in g else None,
        )
    return None


def split_inputs(paths: Iterable[str | Path], root: str | Path
                 ) -> tuple[list[RasterFile], list[Path]]:
    """Published rasters and tables among ``paths`` (every other input is ignored).

    Raises :class:`~aopflow.errors.InputDataError` when a path lies outside ``root``: the
    catalog's hrefs are relative and must stay inside the site-year folder.
    """
    root = Path(root)
    rasters, tables = [], []
    for p in map(Path, paths):
        try:
            p.resolve().relative_to(root.resolve())
        except ValueError:
            raise InputDataError(
                f"{p}: published files must lie under the run's folder {root} (the catalog's "
                "hrefs are relative); copy the file there or leave it out of publishing."
            ) from None
        if p.suffix == ".tif":
            r = classify_raster(p, root)
            if r is not None:
                rasters.append(r)
        elif p.suffix in TABLE_SUFFIXES:
            tables.append(p)
    return rasters, tables
