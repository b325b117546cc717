"""The tiles NEON has for a site-year: the API listing, its CSV file and the size guard.

Two API calls matter (https://data.neonscience.org/data-api/endpoints/):

- ``GET products/{dpid}`` -> ``data.siteCodes[]`` with ``siteCode`` and ``availableDataUrls``
  (one URL per site-month);
- ``GET data/{dpid}/{site}/{YYYY-MM}`` -> ``data.release`` and ``data.files[]`` with ``name``,
  ``size`` (bytes), ``crc32c`` (8 hex digits, Castagnoli) and a signed ``url`` that expires after
  about a week.

Typical use (one listing step, then one download job per tile, :mod:`aopflow.neon.download`)::

    client = NeonClient(api_url=..., token=token_from_env())
    tiles = list_tiles(client, product="DP3.30006.002", site="DSNY", year=2023, tiles="all")
    check_size(tiles, max_download_gb=50)
    write_tile_listing(tiles, "tiles.csv")
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from aopflow.errors import ConfigError, DownloadError, InputDataError
from aopflow.io import atomic_path
from aopflow.neon.client import NeonApiError, NeonClient, redact, strip_query
from aopflow.neon.naming import TILE_FILE_PATTERNS, TILE_IN_NAME_RE, is_tile_id, parse_tile_id
from aopflow.neon.selection import parse_selection, select_available

log = logging.getLogger(__name__)

LISTING_COLUMNS = ("tile", "name", "size", "crc32c", "url", "month", "release")
PROVISIONAL = "PROVISIONAL"


@dataclasses.dataclass(frozen=True)
class TileFile:
    """One tile file of a NEON AOP listing.

    ``tile`` is ``"EEEEEE_NNNNNNN"`` (lower-left corner, UTM metres); ``name`` the file name
    without the URL query; ``url`` the (signed) download URL including its query; ``size`` in
    bytes; ``crc32c`` 8 lowercase hex digits or ``None``; ``month`` ``YYYY-MM``; ``release``
    ``RELEASE-YYYY`` or ``PROVISIONAL``.
    """

    tile: str
    name: str
    url: str
    size: int
    crc32c: str | None
    month: str
    release: str

    @property
    def easting(self) -> int:
        return parse_tile_id(self.tile)[0]

    @property
    def northing(self) -> int:
        return parse_tile_id(self.tile)[1]



def local_name(url: str) -> str:
    """Local file name for a download URL: the last path segment, query stripped, unquoted."""
    return unquote(urlsplit(url).path.rsplit("/", 1)[-1])



def list_tiles(
    client: NeonClient,
    *,
    product: str,
    site: str,
    year: int | str,
    tiles: str | Sequence[str] | Mapping[str, Any] = "all",
    include_provisional: bool = False,
) -> list[TileFile]:
    """List the tile files of ``product`` at ``site`` in ``year``, sorted by (easting, northing).

    ``tiles`` selects which (config key ``neon.tiles``):

    - ``"all"``;
    - a list of tile ids ``"EEEEEE_NNNNNNN"`` (lower-left corner, metres);
    - ``{"bbox": [xmin, ymin, xmax, ymax]}`` (site UTM metres): every tile the box touches;
    - ``{"around_plots": {"points": [(x, y), ...], "buffer_m": b}}``: every tile the square
      ``[x-b, x+b] x [y-b, y+b]`` of any point touches (also covers square plots of half-width
      ``b``). A point whose own tile is not available is an error.

    Tiles are matched by lower-left corner ``floor(v / 1000) * 1000`` over the whole extent, so
    buffers of any size select interior tiles too. Files come from every month of ``year``
    (``availableDataUrls`` containing ``/{site}/{year}-``); a tile listed in several months is
    taken from the latest month; ``PROVISIONAL`` files are dropped unless
    ``include_provisional``.

    Raises ConfigError naming the config key (``neon.product``, ``site``, ``year``,
    ``neon.tiles``, ``neon.include_provisional``) and the valid choices.
    """
    pattern = TILE_FILE_PATTERNS.get(product)
    if pattern is None:
        raise ConfigError(
            f"Unsupported NEON product {product!r} for neon.product; "
            f"must be one of {sorted(TILE_FILE_PATTERNS)}"
        )
    try:
        year = int(year)
    except (TypeError, ValueError):
        raise ConfigError(f"year must be a 4-digit year such as 2023, got {year!r}") from None
    selector = parse_selection(tiles)

    try:
        meta = client.get_json(f"products/{product}")
    except NeonApiError as exc:
        if exc.status in (200, 400, 404):
            raise ConfigError(
                f"NEON does not know the data product {product!r} (neon.product): "
                f"{'; '.join(exc.messages)}. Use one of {sorted(TILE_FILE_PATTERNS)}."
            ) from None
        raise
    sites = {s.get("siteCode"): s for s in meta.get("data", {}).get("siteCodes") or []}
    if site not in sites:
        raise ConfigError(
            f"Site {site!r} (config key site) has no {product} data. Sites with "
            f"{product} data: {', '.join(sorted(map(str, sites))) or 'none'}."
        )
    entry = sites[site]
    urls = entry.get("availableDataUrls") or []
    month_urls = sorted(u for u in urls if f"/{site}/{year}-" in u)
    if not month_urls:
        years = sorted(
            {m[:4] for m in entry.get("availableMonths") or []}
            | {m.group(1) for u in urls if (m := re.search(rf"/{site}/(\d{{4}})-", u))}
        )
        raise ConfigError(
            f"No {product} data for site {site} in year {year} (config key year). "
            f"Years with data at {site}: {', '.join(years) or 'none'}."
        )

    by_tile: dict[str, TileFile] = {}
    releases: set[str] = set()
    for url in month_urls:
        body = client.get_json(url)
        data = body.get("data") or {}
        month = str(data.get("month") or url.rstrip("/").rsplit("/", 1)[-1])
        release = str(data.get("release") or "")
        releases.add(release)
        if release == PROVISIONAL and not include_provisional:
            log.info(
                "Skipping %s %s %s: release PROVISIONAL (neon.include_provisional is false)",
                product,
                site,
                month,
            )
            continue
        for tf in parse_files(data.get("files") or [], month, release, url):
            if not pattern.search(tf.name):
                continue
            prev = by_tile.get(tf.tile)
            if prev is None or tf.month > prev.month:
                by_tile[tf.tile] = tf
            elif tf.month == prev.month and tf.name != prev.name:
                raise DownloadError(
                    f"The NEON listing of {product} {site} {month} has two files "
                    f"for tile {tf.tile}: {prev.name} and {tf.name}; cannot tell "
                    f"which one is the tile. Report this to NEON."
                )
    if not by_tile:
        if releases == {PROVISIONAL} and not include_provisional:
            raise ConfigError(
                f"{product} data for site {site} in {year} are only PROVISIONAL. "
                f"Set neon.include_provisional: true to use them."
            )
        raise DownloadError(
            f"The NEON listing of {product} for {site} {year} has no tile files "
            f"matching {pattern.pattern!r} with an EEEEEE_NNNNNNN tile id."
        )
    selected = select_available(selector, by_tile, product=product, site=site, year=year)
    return sorted((by_tile[t] for t in selected), key=lambda t: (t.easting, t.northing))


def parse_files(
    files: Iterable[Mapping[str, Any]], month: str, release: str, url: str
) -> list[TileFile]:
    """TileFiles of a month listing's ``files``; entries without a tile id are skipped."""
    out = []
    for f in files:
        try:
            raw_name, size, file_url = str(f["name"]), int(f["size"]), str(f["url"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DownloadError(
                f"Malformed file entry in the NEON listing {strip_query(url)}: "
                f"{redact(repr(exc))}; expected name, size and url."
            ) from None
        # Only the last path segment, query stripped: a name can never point outside dest_dir.
        name = local_name(raw_name)
        m = TILE_IN_NAME_RE.search(name)
        if m is None:
            continue
        out.append(
            TileFile(
                tile=f"{m.group(1)}_{m.group(2)}",
                name=name,
                url=file_url,
                size=size,
                crc32c=_norm_crc(f.get("crc32c")),
                month=month,
                release=str(f.get("release") or release),
            )
        )
    return out


def _norm_crc(v: Any) -> str | None:
    # NU-py compares str(crc32c).zfill(8): leading zeros may be missing in the listing.
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    s = str(v).strip().lower()
    return s.zfill(8) if s else None



def write_tile_listing(tiles: Iterable[TileFile], csv_path: str | os.PathLike) -> Path:
    """Write ``tiles`` as CSV (columns ``tile,name,size,crc32c,url,month,release``), atomically.

    A missing ``crc32c`` is an empty cell.
    """
    csv_path = Path(csv_path)
    with atomic_path(csv_path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(LISTING_COLUMNS)
        for t in tiles:
            w.writerow([t.tile, t.name, t.size, t.crc32c or "", t.url, t.month, t.release])
    return csv_path


def read_tile_listing(csv_path: str | os.PathLike) -> list[TileFile]:
    """Read a listing written by :func:`write_tile_listing`."""
    csv_path = Path(csv_path)
    with open(csv_path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = set(LISTING_COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise InputDataError(
                f"Tile listing {csv_path} lacks columns {sorted(missing)}; "
                f"expected {list(LISTING_COLUMNS)}. Delete it and list the tiles "
                f"again."
            )
        out = []
        for lineno, row in enumerate(reader, start=2):
            try:
                if not is_tile_id(row["tile"]):
                    raise ValueError(f"tile {row['tile']!r}")
                out.append(
                    TileFile(
                        tile=row["tile"],
                        name=row["name"],
                        url=row["url"],
                        size=int(row["size"]),
                        crc32c=row["crc32c"] or None,
                        month=row["month"],
                        release=row["release"],
                    )
                )
            except (TypeError, ValueError) as exc:
                raise InputDataError(
                    f"Tile listing {csv_path} line {lineno} is malformed "
                    f"({exc}). Delete it and list the tiles again."
                ) from None
    return out


def check_size(tiles: Sequence[TileFile], max_download_gb: float) -> int:
    """Total size of ``tiles`` in bytes; ConfigError above ``max_download_gb`` (GB = 1e9 bytes)."""
    try:
        cap = float(max_download_gb)
    except (TypeError, ValueError):
        cap = float("nan")
    if not cap > 0:
        raise ConfigError(
            f"neon.max_download_gb is {max_download_gb!r}; must be a positive "
            f"number of gigabytes"
        )
    total = sum(t.size for t in tiles)
    if total > cap * 1e9:
        raise ConfigError(
            f"The selected tiles total {total / 1e9:.2f} GB in {len(tiles)} files, more than "
            f"neon.max_download_gb = {max_download_gb:g} GB. Raise neon.max_download_gb to at "
            f"least {math.ceil(total / 1e8) / 10:g} or select fewer tiles with neon.tiles."
        )
    return total



def make_refresh(
    client: NeonClient, *, product: str, site: str, tile: TileFile
) -> Callable[[], TileFile | None]:
    """A ``refresh`` for :func:`download_tile`: re-list ``tile``'s month, return its new entry."""

    def refresh() -> TileFile | None:
        body = client.get_json(f"data/{product}/{site}/{tile.month}")
        data = body.get("data") or {}
        for tf in parse_files(
            data.get("files") or [],
            tile.month,
            str(data.get("release") or tile.release),
            f"data/{product}/{site}/{tile.month}",
        ):
            if tf.name == tile.name:
                return tf
        return None

    return refresh
