"""Search Sentinel-2 L2A items over the site: a STAC API (pystac-client) or a static
ItemCollection (the demo), the same filters on both, and the per-date table.

Items are handled as plain dicts (``migrate=False`` semantics: ``proj:epsg`` stays as served).
The API gets the area as a lon/lat bbox, the datetime range and a ``query`` on
``eo:cloud_cover``; every returned item's cloud cover, date and footprint are checked again
here, since some servers ignore ``query`` (stac-fastapi-static) or a ``filter`` (Earth Search #62).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from aopflow.errors import ConfigError, DownloadError, InputDataError
from aopflow.io import atomic_path
from aopflow.sentinel2.scaling import SCL_ASSET, item_scalings, scale_offset_label

log = logging.getLogger(__name__)

RETRY_STATUS = (429, 500, 502, 503, 504)


# ---- datetime ranges ----------------------------------------------------------------------

def parse_datetime_range(text: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    """``"2024-04-01/2024-10-31"`` -> (2024-04-01T00:00Z, 2024-10-31T23:59:59.999999Z), both
    ends inclusive (a date end means the whole day, as pystac-client sends it); ``..`` or an
    empty end is open; a single date is that day."""
    parts = str(text).split("/")
    if len(parts) == 1:
        parts = [parts[0], parts[0]]
    if len(parts) != 2:
        raise ConfigError(f"sentinel2.datetime: {text!r} is not START/END (e.g. 2024-04-01/2024-10-31).")

    def one(s: str, end: bool):
        s = s.strip()
        if s in ("", ".."):
            return None
        try:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", s):
                d = dt.datetime.fromisoformat(s).replace(tzinfo=dt.timezone.utc)
                return d + dt.timedelta(days=1, microseconds=-1) if end else d
            d = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
            return d if d.tzinfo else d.replace(tzinfo=dt.timezone.utc)
        except ValueError:
            raise ConfigError(f"sentinel2.datetime: {s!r} in {text!r} is not a date (YYYY-MM-DD) "
                              "or an RFC 3339 time.") from None

    start, end = one(parts[0], False), one(parts[1], True)
    if start and end and start > end:
        raise ConfigError(f"sentinel2.datetime: {text!r} ends before it starts.")
    return start, end


def item_datetime(item: dict) -> dt.datetime:
    p = item.get("properties", {})
    s = p.get("datetime") or p.get("start_datetime")
    if not s:
        raise InputDataError(f"item {item.get('id')}: no properties.datetime.")
    d = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    return d if d.tzinfo else d.replace(tzinfo=dt.timezone.utc)


def solar_date(item: dict, lon: float) -> dt.date:
    """Local solar date of an item's acquisition at longitude ``lon`` (UTC + lon/15 h), as
    odc-stac's ``groupby="solar_day"`` computes it; with the site's longitude, same-day scenes
    of neighbouring UTM zones fall on the same date."""
    return (item_datetime(item) + dt.timedelta(hours=lon / 15.0)).date()


# ---- item properties ------------------------------------------------------------------------

def item_epsg(item: dict) -> int | None:
    p = item.get("properties", {})
    if p.get("proj:epsg"):
        return int(p["proj:epsg"])
    code = p.get("proj:code")
    if code and str(code).upper().startswith("EPSG:"):
        return int(str(code).split(":")[1])
    return None


def item_mgrs(item: dict) -> str:
    p = item.get("properties", {})
    if "mgrs:utm_zone" in p:
        return f"{p['mgrs:utm_zone']:02d}{p.get('mgrs:latitude_band', '')}{p.get('mgrs:grid_square', '')}"
    code = p.get("grid:code", "")
    return code.removeprefix("MGRS-") if code else ""


def cloud_cover(item: dict) -> float | None:
    v = item.get("properties", {}).get("eo:cloud_cover")
    return None if v is None else float(v)


def footprint(item: dict):
    """The item's footprint as a shapely geometry (lon/lat): its geometry, else its bbox."""
    from shapely.geometry import box, shape

    if item.get("geometry"):
        return shape(item["geometry"])
    if item.get("bbox"):
        b = item["bbox"]
        return box(b[0], b[1], b[2], b[3]) if len(b) == 4 else box(b[0], b[1], b[3], b[4])
    raise InputDataError(f"item {item.get('id')}: neither geometry nor bbox.")


# ---- client-side filters -----------------------------------------------------------------------

@dataclass
class Filtered:
    """Items kept, and what each check dropped (item ids)."""

    kept: list[dict]
    out_of_range: list[str]
    cloudy: list[str]
    outside: list[str]
    other_collection: list[str]


def filter_items(items: Iterable[dict], *, bbox: Sequence[float], datetime: str, max_cloud_cover: float,
                 collection: str | None = None) -> Filtered:
    """Re-check items: collection, datetime in range, ``eo:cloud_cover <= max_cloud_cover``
    (an item without it is dropped: its cloud cover cannot be checked) and footprint
    intersecting ``bbox`` (lon/lat)."""
    from shapely.geometry import box

    start, end = parse_datetime_range(datetime)
    area = box(*bbox)
    f = Filtered([], [], [], [], [])
    for it in items:
        iid = it.get("id", "?")
        if collection and it.get("collection") not in (None, collection):
            f.other_collection.append(iid)
            continue
        t = item_datetime(it)
        if (start and t < start) or (end and t > end):
            f.out_of_range.append(iid)
            continue
        if not footprint(it).intersects(area):
            f.outside.append(iid)
            continue
        cc = cloud_cover(it)
        if cc is None or cc > max_cloud_cover:
            log.info("item %s dropped by the cloud re-check: eo:cloud_cover %s > %s", iid, cc, max_cloud_cover)
            f.cloudy.append(iid)
            continue
        f.kept.append(it)
    if f.cloudy:
        log.info("client-side cloud re-check dropped %d item(s): %s", len(f.cloudy), f.cloudy)
    return f


def _check_kept(f: Filtered, *, n_total: int, n_no_cloud_filter: int | None, where: str, datetime: str,
                max_cloud_cover: float, bbox, max_items: int) -> list[dict]:
    if not f.kept:
        if f.outside and not (f.cloudy or f.out_of_range):
            raise ConfigError(
                f"sentinel2.area: the area (lon/lat {[round(v, 5) for v in bbox]}) lies outside every "
                f"item's footprint ({len(f.outside)} item(s) in {datetime} from {where}); check "
                "sentinel2.area and the site CRS."
            )
        n = n_no_cloud_filter if n_no_cloud_filter is not None else len(f.cloudy)
        raise ConfigError(
            f"sentinel2.datetime / sentinel2.max_cloud_cover: no item of {where} over the area in "
            f"{datetime} with eo:cloud_cover <= {max_cloud_cover}; without the cloud filter "
            f"{n} item(s) match. Widen sentinel2.datetime or raise sentinel2.max_cloud_cover."
        )
    if len(f.kept) > max_items:
        raise ConfigError(
            f"sentinel2.max_items: {len(f.kept)} items match (more than {max_items}); narrow "
            "sentinel2.datetime or the area, or raise sentinel2.max_items."
        )
    return f.kept


# ---- static ItemCollection (demo) ------------------------------------------------------------------

def read_item_collection(path: str | os.PathLike) -> list[dict]:
    """Features of an ItemCollection JSON file, with relative asset hrefs made absolute (relative
    to the file's folder), so the items can be written anywhere."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise InputDataError(f"{path}: not a readable STAC ItemCollection JSON ({e}).") from None
    feats = data.get("features") if isinstance(data, dict) else None
    if feats is None:
        raise InputDataError(f"{path}: not a STAC ItemCollection (no 'features').")
    for it in feats:
        for a in it.get("assets", {}).values():
            href = a.get("href", "")
            if href and "://" not in href and not os.path.isabs(href):
                a["href"] = str((path.parent / href).resolve())
    return feats


def search_static(path, *, bbox, datetime: str, max_cloud_cover: float, max_items: int,
                  collection: str | None = None) -> list[dict]:
    items = read_item_collection(path)
    f = filter_items(items, bbox=bbox, datetime=datetime, max_cloud_cover=max_cloud_cover, collection=collection)
    return _check_kept(f, n_total=len(items), n_no_cloud_filter=len(f.cloudy) if not f.kept else None,
                       where=f"the ItemCollection {path}", datetime=datetime, max_cloud_cover=max_cloud_cover,
                       bbox=bbox, max_items=max_items)


# ---- STAC API ----------------------------------------------------------------------------------------

def _client(api_url: str, timeout: float, retries: int, backoff: float):
    from pystac_client import Client
    from pystac_client.stac_api_io import StacApiIO
    from urllib3 import Retry

    # urllib3 retries connection errors, read timeouts and 5xx/429 (honouring Retry-After) with
    # exponential backoff, for GET and POST alike; the last 5xx answer is returned, not raised,
    # so pystac-client's APIError carries the server's message.
    retry = Retry(total=retries, connect=retries, read=retries, status=retries, backoff_factor=backoff,
                  status_forcelist=RETRY_STATUS, allowed_methods=None, raise_on_status=False,
                  respect_retry_after_header=True)
    io = StacApiIO(timeout=timeout, max_retries=retry)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = Client.open(api_url, stac_io=io)
    for w in caught:  # e.g. "Server does not conform to QUERY": logged; items are re-checked anyway
        log.warning("pystac-client: %s", w.message)
    return client


def _api_error(api_url: str, e: Exception) -> DownloadError:
    return DownloadError(
        f"sentinel2.api_url: the STAC API at {api_url} could not be reached or failed ({type(e).__name__}: "
        f"{e}); check the URL and the network (retried with backoff)."
    )


def _search_pages(client, *, collection, bbox, datetime, query, max_items, limit=100):
    """All features of a search, paging through ``next`` links; stops early (returns None as
    total) once more than ``max_items`` came back, with the server's count when it gives one."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        search = client.search(collections=[collection], bbox=list(bbox) if bbox else None, datetime=datetime,
                               query=query, limit=limit)
        feats: list[dict] = []
        matched = None
        for i, page in enumerate(search.pages_as_dicts()):
            if i == 0:
                matched = page.get("numberMatched", (page.get("context") or {}).get("matched"))
                if matched is not None and matched > max_items and query is not None:
                    return feats, int(matched)
            feats.extend(page.get("features", []))
            if len(feats) > 4 * max_items + limit:
                return feats, matched if matched is not None else len(feats)
    for w in caught:
        log.warning("pystac-client: %s", w.message)
    return feats, matched


def search_api(api_url: str, collection: str, *, bbox, datetime: str, max_cloud_cover: float, max_items: int,
               timeout: float = 30.0, retries: int = 5, backoff: float = 0.5, page_size: int = 100) -> list[dict]:
    """Items of ``collection`` over ``bbox`` (lon/lat) in ``datetime`` with eo:cloud_cover <=
    ``max_cloud_cover`` from the STAC API at ``api_url`` (server-side filters, then re-checked)."""
    from pystac_client.exceptions import APIError

    try:
        client = _client(api_url, timeout, retries, backoff)
    except (APIError, OSError, ValueError, Exception) as e:  # requests errors are OSErrors
        raise _api_error(api_url, e) from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pystac-client's fallback notices; the outcome is checked here
        try:
            # None on a 404; a server without /collections/{id} may hand back another collection.
            coll = client.get_collection(collection)
            found = coll is not None and coll.id == collection
        except Exception:  # noqa: BLE001 - decided from the collection list below
            found = False
        if not found:
            try:
                known = sorted(c.id for c in client.get_collections())
            except Exception as e:  # noqa: BLE001
                raise _api_error(api_url, e) from None
            if collection not in known:
                raise ConfigError(
                    f"sentinel2.collection: {collection!r} is not a collection of {api_url}; it offers {known}."
                ) from None
    query = {"eo:cloud_cover": {"lte": max_cloud_cover}}
    try:
        feats, matched = _search_pages(client, collection=collection, bbox=bbox, datetime=datetime, query=query,
                                       max_items=max_items, limit=page_size)
    except APIError as e:
        raise _api_error(api_url, e) from None
    except OSError as e:
        raise _api_error(api_url, e) from None
    log.info("STAC search %s %s bbox %s %s cloud <= %s: %d item(s) returned (server count %s)",
             api_url, collection, bbox, datetime, max_cloud_cover, len(feats), matched)
    if matched is not None and matched > max_items and len(feats) <= max_items:
        raise ConfigError(
            f"sentinel2.max_items: {matched} items match (more than {max_items}); narrow "
            "sentinel2.datetime or the area, or raise sentinel2.max_items."
        )
    f = filter_items(feats, bbox=bbox, datetime=datetime, max_cloud_cover=max_cloud_cover, collection=collection)
    n_without = None
    if not f.kept:
        try:
            loose, loose_matched = _search_pages(client, collection=collection, bbox=bbox, datetime=datetime,
                                                 query=None, max_items=max_items)
            lf = filter_items(loose, bbox=bbox, datetime=datetime, max_cloud_cover=float("inf"),
                              collection=collection)
            n_without = len(lf.kept)
            if not lf.kept and lf.outside:
                f.outside = lf.outside
            elif not lf.kept:
                # Nothing over the area at all: are there items in the range elsewhere?
                anywhere, n_any = _search_pages(client, collection=collection, bbox=None, datetime=datetime,
                                                query=None, max_items=1, limit=1)
                if anywhere:
                    f.outside = [it.get("id", "?") for it in anywhere]
                    if n_any:
                        f.outside += ["?"] * max(0, int(n_any) - len(f.outside))
        except (APIError, OSError):
            n_without = None
    return _check_kept(f, n_total=len(feats), n_no_cloud_filter=n_without, where=f"{api_url} ({collection})",
                       datetime=datetime, max_cloud_cover=max_cloud_cover, bbox=bbox, max_items=max_items)


# ---- outputs -----------------------------------------------------------------------------------

def sort_items(items: Iterable[dict]) -> list[dict]:
    return sorted(items, key=lambda it: (item_datetime(it), it.get("id", "")))


def write_item_collection(items: Sequence[dict], path) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps({"type": "FeatureCollection", "features": list(items)}, indent=1) + "\n")
    return Path(path)


def group_by_date(items: Sequence[dict], lon: float) -> dict[str, list[dict]]:
    """Solar date (YYYY-MM-DD at longitude ``lon``) -> its items, in (datetime, id) order."""
    out: dict[str, list[dict]] = {}
    for it in sort_items(items):
        out.setdefault(solar_date(it, lon).isoformat(), []).append(it)
    return dict(sorted(out.items()))


def date_rows(groups: dict[str, list[dict]], bands: Sequence[str]) -> list[dict]:
    """dates.csv rows (see :data:`aopflow.sentinel2.dates.DATES_COLUMNS`); raises on an item missing a requested asset."""
    rows = []
    for date, items in groups.items():
        labels = []
        for it in items:
            if SCL_ASSET not in it.get("assets", {}):
                raise InputDataError(f"item {it.get('id')}: no asset 'scl' (the scene classification needed "
                                     "for cloud masking).")
            lab = scale_offset_label(item_scalings(it, bands))
            if lab not in labels:
                labels.append(lab)
        ccs = [c for c in (cloud_cover(it) for it in items) if c is not None]
        rows.append({
            "date": date,
            "item_ids": ";".join(it["id"] for it in items),
            "mgrs_tiles": ";".join(item_mgrs(it) for it in items),
            "epsgs": ";".join(str(item_epsg(it)) for it in items),
            "cloud_cover": max(ccs) if ccs else "",
            "processing_baselines": ";".join(str(it.get("properties", {}).get("s2:processing_baseline", ""))
                                             for it in items),
            "scale_offset": "|".join(labels),
        })
    return rows


# What a per-date job needs of an item (its params: an unchanged item reruns nothing).
_KEEP_PROPS = ("datetime", "eo:cloud_cover", "proj:epsg", "proj:code", "s2:processing_baseline",
               "earthsearch:boa_offset_applied", "mgrs:utm_zone", "mgrs:latitude_band", "mgrs:grid_square",
               "grid:code", "platform", "constellation", "gsd")


def trim_item(item: dict, assets: Sequence[str]) -> dict:
    """A minimal copy of ``item``: id, collection, geometry, bbox, the properties loading needs,
    and only the assets ``assets`` (missing ones are left out, and reported when loading)."""
    props = {k: v for k, v in item.get("properties", {}).items() if k in _KEEP_PROPS}
    out = {"type": "Feature", "stac_version": item.get("stac_version", "1.0.0"),
           "stac_extensions": item.get("stac_extensions", []), "id": item["id"],
           "collection": item.get("collection"), "geometry": item.get("geometry"), "bbox": item.get("bbox"),
           "properties": props, "links": [],
           "assets": {k: v for k, v in item.get("assets", {}).items() if k in assets}}
    return out
