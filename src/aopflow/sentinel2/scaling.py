"""Scale and offset of Sentinel-2 L2A assets: reflectance = DN x scale + offset.

odc-stac returns raw DN (it never applies STAC scale/offset), so this module is the one place
where they are applied. Per asset they come from ``raster:bands[0]``; an item without it falls
back to the processing baseline: from baseline 04.00 (2022-01-25) L2A DNs carry
BOA_ADD_OFFSET = -1000, i.e. offset -0.1 with scale 1e-4; earlier baselines offset 0.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import numpy as np

from aopflow.errors import InputDataError

log = logging.getLogger(__name__)

L2A_SCALE = 1e-4
BOA_OFFSET = -0.1
OFFSET_BASELINE = (4, 0)
SCL_ASSET = "scl"


@dataclass(frozen=True)
class Scaling:
    """``scale``, ``offset`` (reflectance = DN * scale + offset), ``nodata`` DN, and where they
    came from (``"raster:bands"`` or ``"baseline NN.NN"``)."""

    scale: float
    offset: float
    nodata: float | None = 0
    source: str = "raster:bands"

    def label(self) -> str:
        return f"{self.scale:g}/{self.offset:g}"


def parse_baseline(baseline) -> tuple[int, int]:
    """``"05.09"`` -> (5, 9); also accepts ``"N0509"`` and 5.09."""
    text = str(baseline).strip().lstrip("Nn")
    m = re.fullmatch(r"(\d{1,2})\.(\d{1,2})", text) or re.fullmatch(r"(\d{2})(\d{2})", text)
    if not m:
        raise InputDataError(f"s2:processing_baseline {baseline!r} is not of the form NN.NN (e.g. '05.09').")
    return int(m.group(1)), int(m.group(2))


def baseline_offset(baseline) -> float:
    """BOA offset of a processing baseline: 0 before 04.00, -0.1 from it."""
    return BOA_OFFSET if parse_baseline(baseline) >= OFFSET_BASELINE else 0.0


def asset_scaling(item: dict, key: str) -> Scaling:
    """Scale/offset/nodata of asset ``key`` of a STAC item (a dict): from ``raster:bands``, else
    from ``s2:processing_baseline``. SCL (a class map) has scale 1, offset 0."""
    iid = item.get("id", "?")
    asset = item.get("assets", {}).get(key)
    if asset is None:
        raise InputDataError(
            f"item {iid}: no asset {key!r} (it has {sorted(item.get('assets', {}))}); check "
            "sentinel2.bands against the collection's asset keys (Earth Search: blue, green, red, nir, ...)."
        )
    rb = asset.get("raster:bands") or []
    band = rb[0] if rb else {}
    if key == SCL_ASSET:
        return Scaling(1.0, 0.0, band.get("nodata", 0), "class map")
    if "scale" in band or "offset" in band:
        return Scaling(float(band.get("scale", 1.0)), float(band.get("offset", 0.0)),
                       band.get("nodata", 0), "raster:bands")
    baseline = item.get("properties", {}).get("s2:processing_baseline")
    if baseline is None:
        raise InputDataError(
            f"item {iid}, asset {key!r}: neither raster:bands scale/offset nor s2:processing_baseline; "
            "cannot convert DN to reflectance."
        )
    return Scaling(L2A_SCALE, baseline_offset(baseline), band.get("nodata", 0), f"baseline {baseline}")


def item_scalings(item: dict, bands) -> dict[str, Scaling]:
    """Asset key -> Scaling for ``bands`` of one item; logs them, and warns when ``raster:bands``
    disagrees with the baseline (Earth Search issues #66/#71: wrong offset metadata)."""
    out = {b: asset_scaling(item, b) for b in bands}
    props = item.get("properties", {})
    baseline = props.get("s2:processing_baseline")
    log.info("item %s (baseline %s): %s", item.get("id"), baseline,
             "; ".join(f"{b}: scale {s.scale:g} offset {s.offset:g} from {s.source}" for b, s in out.items()))
    if baseline is not None:
        expected = baseline_offset(baseline)
        for b, s in out.items():
            if s.source == "raster:bands" and abs(s.offset - expected) > 1e-9:
                log.warning("item %s asset %s: raster:bands offset %g differs from baseline %s's %g; "
                            "using raster:bands", item.get("id"), b, s.offset, baseline, expected)
    return out


def scale_offset_label(scalings: dict[str, Scaling]) -> str:
    """``"red:0.0001/-0.1;nir:0.0001/-0.1"`` (the dates.csv ``scale_offset`` column)."""
    return ";".join(f"{b}:{s.label()}" for b, s in scalings.items())


def to_reflectance(dn: np.ndarray, s: Scaling) -> np.ndarray:
    """float32 reflectance from a DN array (any shape): DN * scale + offset, NaN where DN is the
    nodata value. Computed in float64 and rounded once to float32, so the result equals an
    independent ``np.float32(dn * scale + offset)``."""
    out = (dn.astype(np.float64) * s.scale + s.offset).astype(np.float32)
    if s.nodata is not None:
        out[dn == s.nodata] = np.nan
    return out
