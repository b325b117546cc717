# Helpers of rules/sentinel2.smk (included by it): the sentinel2 config (S2) and its start-up
# check, the rules' input and memory functions, the search checkpoint's date table (s2_dates,
# s2_date_file(s), also used by rules/s2_products.smk and rules/downscale.smk) and rule all's
# Sentinel-2 targets (s2_targets).
import functools
import os
from pathlib import Path

from aopflow.stages import sentinel2 as s2_stage

S2 = config["sentinel2"]


wildcard_constraints:
    date=r"\d{4}-\d{2}-\d{2}",


if S2["source"]:
    # For "a Sentinel-2 pixel is a whole block of AOP pixels" (None: no local tiles yet).
    _aop_pixel = aop_pixel_size()
    S2_AOP_PIXEL_SIZE = _aop_pixel[0] if _aop_pixel else None
    s2_stage.check_config(S2, S2_AOP_PIXEL_SIZE)


def s2_grid_inputs(wildcards):
    inputs = {"tiles": f"{OUT}/tiles.csv"}
    if S2["area"] == "plots" and config["zonal"]["plots"]:
        inputs["plots"] = zonal_plots_file(wildcards)
    if config["source"] == "neon":  # the NEON listing has no CRS: read it from a tile
        inputs["h5"] = h5_path(site_tiles()[0])
    return inputs


def s2_search_inputs(wildcards):
    inputs = {"grid": f"{OUT}/s2/grid.json"}
    if S2["source"] == "demo":
        inputs["demo_items"] = f"{OUT}/s2/demo/items.json"
    return inputs


def s2_date_inputs(wildcards):
    # The search's ItemCollection as an ancient input: the date's items (params) are read from
    # it, but a new search (e.g. a wider datetime) does not by itself rerun unchanged dates.
    inputs = {
        "grid": f"{OUT}/s2/grid.json",
        "searched": ancient(f"{OUT}/s2/items.json"),
    }
    # Regenerated demo scenes (same hrefs, new pixels) rerun every date.
    if S2["source"] == "demo":
        inputs["demo_items"] = f"{OUT}/s2/demo/items.json"
    return inputs


@functools.lru_cache(maxsize=4)
def _s2_dates_table(path, mtime):
    rows = {
        r["date"]: r["item_ids"].split(";")
        for r in s2_stage.s2dates.read_dates_csv(path)
    }
    items = {
        it["id"]: it
        for it in s2_stage.s2search.read_item_collection(
            Path(path).parent / "items.json"
        )
    }
    return rows, items


def s2_table():
    """(date -> item ids, item id -> item) after the search checkpoint has run."""
    path = checkpoints.s2_search.get().output.dates
    return _s2_dates_table(path, os.path.getmtime(path))


def s2_dates():
    return sorted(s2_table()[0])


def s2_date_file(date, name):
    """The per-date raster or table ``name`` (ndvi.tif, reflectance.tif, summary.csv)."""
    return f"{OUT}/s2/dates/{date}/{name}"


def s2_date_files(name):
    """Input function: :func:`s2_date_file` ``name`` of every searched date."""

    def files(wildcards):
        return [s2_date_file(d, name) for d in s2_dates()]

    return files


def s2_date_items(wildcards):
    """The date's items, trimmed to what loading needs (as params: an unchanged date's items
    rerun nothing after a wider search; a changed item reruns its date)."""
    dates, items = s2_table()
    assets = [*S2["bands"], "scl"]
    return [
        s2_stage.s2search.trim_item(items[i], assets) for i in dates[wildcards.date]
    ]


def s2_date_mem_mb(wildcards, input):
    """About 40 bytes per grid pixel and band (DN, reflectance and the merged result of each
    item), plus the interpreter and GDAL caches."""
    grid = s2_stage.SiteGrid.read(input.grid)
    return int(400 + 40 * grid.width * grid.height * (len(S2["bands"]) + 1) / 2**20)


def s2_targets():
    if not S2["source"]:
        return []
    return [
        f"{OUT}/s2/date_summary.csv",
        f"{OUT}/figures/s2_ndvi_dates.png",
        f"{OUT}/figures/s2_valid_fraction.png",
    ]


STAGE_TARGETS.append(s2_targets)
