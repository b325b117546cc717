"""``species.source: neon``: vegetation structure tables and plot points from the NEON Data API.

* ``GET products/DP1.10098.001``: the site's available months (``siteCodes[].availableMonths``);
  months of the configured field years (default: all up to the AOP year) are used.
* ``GET data/DP1.10098.001/{site}/{month}``: the month's files; the basic package's
  ``vst_mappingandtagging`` and ``vst_apparentindividual`` CSVs are downloaded (a site-wide table
  repeated in several months is stacked once: :func:`aopflow.species.tables.read_table` drops
  duplicate rows).
* ``GET locations/{namedLocation}``: the plot (``SITE_037.basePlot.vst``) lists its points in
  ``locationChildren``; ``GET locations/{plot}.{pointID}`` gives each point's
  ``locationUtmEasting``, ``locationUtmNorthing``, ``locationUtmZone``, ``locationUtmHemisphere``.
  Only points that mapped stems refer to are requested.

Every answer goes through :class:`aopflow.neon.client.NeonClient` (token, retries, rate limits)
and is cached in ``cache_dir`` (files by name and size, locations as JSON), so a rerun asks the
API for the month listings only.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from aopflow.errors import DownloadError, InputDataError
from aopflow.io import atomic_path
from aopflow.neon.client import NETWORK_ERRORS, RETRY_STATUS, NeonApiError, NeonClient, describe, strip_query
from aopflow.species.tables import MAPPING_COLUMNS, normalise_point_id, read_table

log = logging.getLogger(__name__)

#: NEON's vegetation structure data product.
VST_PRODUCT = "DP1.10098.001"
#: Basic-package table files: ``NEON.D08.DELA.DP1.10098.001.vst_mappingandtagging.basic.<time>.csv``
#: (site-wide tables) or ``...vst_apparentindividual.2019-08.basic.<time>.csv``.
TABLE_FILE = re.compile(r"\.(vst_mappingandtagging|vst_apparentindividual)\.(?:[0-9]{4}-[0-9]{2}\.)?basic\..*\.csv$")
PROVISIONAL = "PROVISIONAL"


def site_months(client: NeonClient, site: str, years: Sequence[int] | None, aop_year: int) -> list[str]:
    """Months (``YYYY-MM``) with vegetation structure data at ``site`` in the field years."""
    body = client.get_json(f"products/{VST_PRODUCT}")
    for sc in body.get("data", {}).get("siteCodes", []):
        if sc.get("siteCode") == site:
            months = sorted(sc.get("availableMonths") or [])
            break
    else:
        raise InputDataError(f"NEON lists no {VST_PRODUCT} (vegetation structure) data for site {site}; "
                             "use species.source: files with tables you have, or null.")
    keep = [m for m in months if (int(m[:4]) in years if years else int(m[:4]) <= aop_year)]
    if not keep:
        raise InputDataError(f"{VST_PRODUCT} at {site}: no month in the field years {years or f'<= {aop_year}'} "
                             f"(available: {months[:3]}...{months[-3:]}); change species.years.")
    return keep


def _download(client: NeonClient, url: str, name: str, size: int | None, cache_dir: Path) -> Path:
    path = cache_dir / name
    if path.is_file() and (size is None or path.stat().st_size == size):
        return path
    cause = "no attempt made"
    for attempt in range(client.max_retries + 1):
        if attempt:
            client.sleep(client.backoff_delay(attempt))
        try:
            resp = client.request(url)
        except NETWORK_ERRORS as exc:
            cause = describe(exc)
            continue
        with resp:
            if resp.status_code in RETRY_STATUS:
                cause = f"HTTP {resp.status_code}"
                continue
            if resp.status_code != 200:
                raise DownloadError(f"{name}: HTTP {resp.status_code} from {strip_query(url)}")
            data = resp.content
        if size is not None and len(data) != size:
            cause = f"{len(data)} bytes instead of the listed {size}"
            continue
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
        return path
    raise DownloadError(f"{name}: download from {strip_query(url)} failed after {client.max_retries + 1} attempts; "
                        f"last cause: {cause}")


def table_files(client: NeonClient, site: str, months: Sequence[str], cache_dir: Path,
                include_provisional: bool = False) -> dict[str, list[Path]]:
    """Download the basic-package vst tables of ``months`` -> {table name: [cached files]}."""
    out: dict[str, list[Path]] = {"vst_mappingandtagging": [], "vst_apparentindividual": []}
    for month in months:
        data = client.get_json(f"data/{VST_PRODUCT}/{site}/{month}")["data"]
        if data.get("release") == PROVISIONAL and not include_provisional:
            log.info("skipping %s %s: release PROVISIONAL (neon.include_provisional is false)", site, month)
            continue
        for f in data.get("files", []):
            m = TABLE_FILE.search(f["name"])
            if m:
                out[m.group(1)].append(_download(client, f["url"], f["name"], f.get("size"), cache_dir))
    for table, files in out.items():
        if not files:
            raise InputDataError(f"NEON lists no basic-package {table} file for {site} in months {list(months)}")
    return out


def _location(client: NeonClient, name: str, cache_dir: Path) -> dict:
    path = cache_dir / "locations" / f"{name}.json"
    if path.is_file():
        return json.loads(path.read_text())
    data = client.get_json(f"locations/{name}")["data"]
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data))
    return data


def _properties(data: dict) -> dict:
    return {p.get("locationPropertyName"): p.get("locationPropertyValue") for p in data.get("locationProperties") or []}


def plot_points(client: NeonClient, mapping: pd.DataFrame, cache_dir: Path) -> pd.DataFrame:
    """Coordinates of the points mapped stems refer to (columns of All_NEON_TOS_Plot_Points:
    plotID, pointID, utmZone, easting, northing, latitude, longitude, horzUncert)."""
    df = mapping.dropna(subset=["pointID"]).copy()
    df["pointID"] = [normalise_point_id(v) for v in df["pointID"]]
    if "namedLocation" not in df.columns:
        df["namedLocation"] = pd.NA
    df["namedLocation"] = df["namedLocation"].fillna(df["plotID"] + ".basePlot.vst")
    rows = []
    for (plot, named), g in df.groupby(["plotID", "namedLocation"]):
        try:
            parent = _location(client, named, cache_dir)
        except NeonApiError as exc:
            log.warning("plot %s: no location %s (%s)", plot, named, exc)
            continue
        children = set(parent.get("locationChildren") or [])
        for pid in sorted(set(g["pointID"].dropna())):
            name = f"{named}.{pid}"
            if children and name not in children:
                log.warning("plot %s lists no point %s among its children", plot, name)
                continue
            d = _location(client, name, cache_dir)
            zone = d.get("locationUtmZone")
            rows.append({"plotID": plot, "pointID": pid,
                         "utmZone": f"{zone}{(d.get('locationUtmHemisphere') or 'N')[0]}",
                         "easting": d.get("locationUtmEasting"), "northing": d.get("locationUtmNorthing"),
                         "latitude": d.get("locationDecimalLatitude"), "longitude": d.get("locationDecimalLongitude"),
                         "horzUncert": _properties(d).get("Value for Coordinate uncertainty")})
    return pd.DataFrame(rows, columns=["plotID", "pointID", "utmZone", "easting", "northing", "latitude",
                                       "longitude", "horzUncert"])


def fetch_species_tables(site: str, *, mapping_path: str | os.PathLike, individual_path: str | os.PathLike,
                         points_path: str | os.PathLike, years: Sequence[int] | None, aop_year: int,
                         api_url: str, include_provisional: bool = False, cache_dir: str | os.PathLike,
                         client: NeonClient | None = None) -> dict[str, Path]:
    """Write the site's stacked vst tables and the points of its plots (CSV, NEON's columns)."""
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    own = client is None
    client = client or NeonClient.from_env(api_url)
    try:
        months = site_months(client, site, years, aop_year)
        files = table_files(client, site, months, cache, include_provisional)
        with open(files["vst_mappingandtagging"][0]) as fh:
            header = fh.readline().strip().split(",")
        extra = [c for c in ("namedLocation",) if c in header]
        mapping = read_table(files["vst_mappingandtagging"], MAPPING_COLUMNS, "vst_mappingandtagging", optional=extra)
        points = plot_points(client, mapping, cache)
    finally:
        if own:
            client.close()
    individual = pd.concat([pd.read_csv(p, dtype=str, keep_default_na=False, na_values=[""])
                            for p in files["vst_apparentindividual"]]).drop_duplicates()
    full_mapping = pd.concat([pd.read_csv(p, dtype=str, keep_default_na=False, na_values=[""])
                              for p in files["vst_mappingandtagging"]]).drop_duplicates()
    for df, path in ((full_mapping, mapping_path), (individual, individual_path), (points, points_path)):
        with atomic_path(path) as tmp:
            df.to_csv(tmp, index=False)
    log.info("%s: %d mapping and %d measurement rows from %d months; %d plot points",
             site, len(full_mapping), len(individual), len(months), len(points))
    return {"mapping": Path(mapping_path), "individual": Path(individual_path), "points": Path(points_path)}
