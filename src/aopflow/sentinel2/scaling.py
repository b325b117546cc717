"""Scale and offset of Sentinel-2 L2A assets (reflectance = DN x scale + offset), and a check
that the result is plausible.

odc-stac returns raw DN (it never applies STAC scale/offset), so this module is the one place
where they are applied. Where the offset comes from is ``sentinel2.offset`` (:data:`OFFSETS`):

* ``metadata`` (default): per asset from ``raster:bands[0]``, as Earth Search documents; an
  item without it falls back to the processing baseline;
* ``baseline``: from ``s2:processing_baseline``: from baseline 04.00 (2022-01-25) L2A DNs carry
  BOA_ADD_OFFSET = -1000, i.e. offset -0.1 with scale 1e-4; earlier baselines offset 0;
* ``zero``: offset 0 (the DNs are already harmonized to the pre-04.00 encoding).

The scale is always the metadata's (1e-4 where there is none).

Plausibility check (:func:`check_item`)
    Earth Search serves ``sentinel-2-l2a`` items whose ``raster:bands`` offset (-0.1) does not
    fit the DNs actually stored (already harmonized, no +1000): Element84/earth-search#66 and
    #71, cirrus-geo/cirrus-earth-search#33. Applying the metadata then subtracts 0.1 from every
    reflectance; the offset agrees with the baseline, so comparing the two cannot see it. What
    it does is drive dark surfaces below zero. So per item and for every band read, after
    scale and offset, the share of the item's valid land pixels on the grid (SCL 4 vegetation
    and 5 not vegetated, every band with data) that are below zero is computed; above
    ``sentinel2.negative_share_max`` (default 5 %) the item is flagged and a warning names the
    item, band, share and likely cause. Every band is checked, not only red and NIR: over
    bright ground only blue and green (the darkest bands there) go negative. Correct L2A
    reflectance of vegetation and bare land is rarely below zero (a few dark pixels from
    noise), so 5 % is far above what a right offset gives and far below what a wrong one does
    over vegetation (red about 0.03-0.05, all below zero).

    The opposite error (DNs with the +1000 offset, metadata offset 0) makes every reflectance
    0.1 too bright: no band goes negative. That one disagrees with the processing baseline
    (:func:`baseline_disagreements`), which flags the item too; ``offset: baseline`` corrects it.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from aopflow.errors import ConfigError, InputDataError

log = logging.getLogger(__name__)

L2A_SCALE = 1e-4
BOA_OFFSET = -0.1
OFFSET_BASELINE = (4, 0)
SCL_ASSET = "scl"

#: ``sentinel2.offset`` values: where the offset comes from (see the module docstring).
OFFSETS = ("metadata", "baseline", "zero")
#: SCL classes counted by the plausibility check: 4 vegetation, 5 not vegetated.
LAND_CLASSES = (4, 5)
#: Default ``sentinel2.negative_share_max``.
NEGATIVE_SHARE_MAX = 0.05
#: Where wrong offset metadata is reported, quoted in the warning.
OFFSET_ISSUES = "Element84/earth-search#66, #71; cirrus-geo/cirrus-earth-search#33"


@dataclass(frozen=True)
class Scaling:
    """``scale``, ``offset`` (reflectance = DN * scale + offset), ``nodata`` DN, and where the
    offset came from (``"raster:bands"``, ``"baseline NN.NN"``, ``"sentinel2.offset zero"``)."""

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


def _check_offset_mode(offset: str) -> None:
    if offset not in OFFSETS:
        raise ConfigError(f"Unknown sentinel2.offset {offset!r}; must be one of {list(OFFSETS)}.")


def asset_scaling(item: dict, key: str, offset: str = "metadata") -> Scaling:
    """Scale/offset/nodata of asset ``key`` of a STAC item (a dict).

    ``offset`` (``sentinel2.offset``): ``metadata``: scale and offset from ``raster:bands``,
    else from ``s2:processing_baseline``; ``baseline``: the offset of the item's processing
    baseline; ``zero``: offset 0 (with ``baseline`` and ``zero`` the scale is still the
    metadata's, 1e-4 without one). SCL (a class map) has scale 1, offset 0.
    """
    _check_offset_mode(offset)
    iid = item.get("id", "?")
    asset = item.get("assets", {}).get(key)
    if asset is None:
        raise InputDataError(
            f"item {iid}: no asset {key!r} (it has {sorted(item.get('assets', {}))}); check "
            "sentinel2.bands against the collection's asset keys (Earth Search: blue, green, red, nir, ...)."
        )
    rb = asset.get("raster:bands") or []
    band = rb[0] if rb else {}
    nodata = band.get("nodata", 0)
    if key == SCL_ASSET:
        return Scaling(1.0, 0.0, nodata, "class map")
    stated = "scale" in band or "offset" in band
    scale = float(band.get("scale", 1.0)) if stated else L2A_SCALE
    if offset == "zero":
        return Scaling(scale, 0.0, nodata, "sentinel2.offset zero")
    if offset == "metadata" and stated:
        return Scaling(scale, float(band.get("offset", 0.0)), nodata, "raster:bands")
    baseline = item.get("properties", {}).get("s2:processing_baseline")
    if baseline is None:
        if offset == "baseline":
            raise ConfigError(
                f"sentinel2.offset is 'baseline' but item {iid} has no s2:processing_baseline; "
                "set sentinel2.offset to metadata or zero.")
        raise InputDataError(
            f"item {iid}, asset {key!r}: neither raster:bands scale/offset nor s2:processing_baseline; "
            "cannot convert DN to reflectance."
        )
    return Scaling(scale, baseline_offset(baseline), nodata, f"baseline {baseline}")


def baseline_disagreements(item: dict, scalings: Mapping[str, Scaling]) -> dict[str, float]:
    """Asset key -> the baseline's offset, for the assets whose offset was taken from
    ``raster:bands`` and differs from the one of the item's ``s2:processing_baseline``
    (empty without a baseline, or with an offset not taken from the metadata)."""
    baseline = item.get("properties", {}).get("s2:processing_baseline")
    if baseline is None:
        return {}
    expected = baseline_offset(baseline)
    return {b: expected for b, s in scalings.items()
            if s.source == "raster:bands" and abs(s.offset - expected) > 1e-9}


def item_scalings(item: dict, bands, offset: str = "metadata") -> dict[str, Scaling]:
    """Asset key -> Scaling for ``bands`` of one item (``offset``: ``sentinel2.offset``, see
    :func:`asset_scaling`); logs them, and warns when a ``raster:bands`` offset disagrees with
    the processing baseline (wrong offset metadata, see the module docstring)."""
    out = {b: asset_scaling(item, b, offset) for b in bands}
    baseline = item.get("properties", {}).get("s2:processing_baseline")
    log.info("item %s (baseline %s, sentinel2.offset %s): %s", item.get("id"), baseline, offset,
             "; ".join(f"{b}: scale {s.scale:g} offset {s.offset:g} from {s.source}" for b, s in out.items()))
    for b, expected in baseline_disagreements(item, out).items():
        log.warning("item %s asset %s: raster:bands offset %g differs from baseline %s's %g; using "
                    "raster:bands (sentinel2.offset: baseline uses the baseline's; wrong offset metadata "
                    "is known: %s)", item.get("id"), b, out[b].offset, baseline, expected, OFFSET_ISSUES)
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


@dataclass
class ItemCheck:
    """The plausibility check of one item's scaling (see the module docstring).

    ``shares``: asset key -> share of the ``n_land`` valid land pixels below zero in that
    band (NaN when ``n_land`` is 0); ``flagged``: the bands above ``max_share``;
    ``disagreements``: asset key -> baseline offset, where the ``raster:bands`` offset used
    differs from it; ``scalings``: what was applied.
    """

    item: str
    n_land: int
    shares: dict[str, float]
    max_share: float
    scalings: dict[str, Scaling]
    flagged: list[str] = field(default_factory=list)
    disagreements: dict[str, float] = field(default_factory=dict)

    @property
    def suspect(self) -> bool:
        return bool(self.flagged or self.disagreements)

    def notes(self) -> list[str]:
        """One short text per reason to doubt the scaling (the ``scaling_note`` column)."""
        out = []
        if self.flagged:
            out.append(f"{self.item}: " + ", ".join(f"{b} {self.shares[b]:.1%}" for b in self.flagged)
                       + f" of {self.n_land} land pixels below 0 (> {self.max_share:.1%})")
        if self.disagreements:
            out.append(f"{self.item}: raster:bands offset "
                       + ", ".join(f"{b} {self.scalings[b].offset:g}" for b in self.disagreements)
                       + f" differs from the baseline's {next(iter(self.disagreements.values())):g}")
        return out


def negative_shares(reflectance: Mapping[str, np.ndarray], scl: np.ndarray,
                    land_classes: Sequence[int] = LAND_CLASSES) -> tuple[int, dict[str, float]]:
    """Per band, the share of the valid land pixels whose reflectance is below zero.

    Args:
        reflectance: asset key -> reflectance (rows, cols) float (NaN = the DN was nodata),
            all on one grid.
        scl: (rows, cols) SCL classes on that grid (0 outside the scene).
        land_classes: SCL classes that count as land (default 4 vegetation, 5 not vegetated).

    Returns:
        ``(n_land, shares)``: the number of land pixels where every band has data, and asset key
        -> share of them below zero (float in [0, 1]; NaN when ``n_land`` is 0).
    """
    land = np.isin(scl, np.asarray(land_classes))
    for r in reflectance.values():
        land &= np.isfinite(r)
    n = int(np.count_nonzero(land))
    shares = {b: (int(np.count_nonzero(r[land] < 0)) / n if n else math.nan) for b, r in reflectance.items()}
    return n, shares


def check_item(item: dict, scalings: Mapping[str, Scaling], reflectance: Mapping[str, np.ndarray],
               scl: np.ndarray, *, max_share: float = NEGATIVE_SHARE_MAX) -> ItemCheck:
    """The plausibility check of one item read onto the grid: :func:`negative_shares` of every
    band against ``max_share`` (``sentinel2.negative_share_max``), and the offsets that
    disagree with the processing baseline. Logs one warning per band above ``max_share`` (the
    item id, band, share and the likely cause) and one info line with all shares.
    """
    iid = str(item.get("id", "?"))
    n, shares = negative_shares(reflectance, scl)
    chk = ItemCheck(iid, n, shares, float(max_share), dict(scalings),
                    disagreements=baseline_disagreements(item, scalings))
    if not n:
        log.info("item %s: no valid land pixel (SCL %s) on the grid; scaling not checked", iid,
                 "/".join(map(str, LAND_CLASSES)))
        return chk
    log.info("item %s: share of %d valid land pixels below zero: %s", iid, n,
             ", ".join(f"{b} {v:.2%}" for b, v in shares.items()))
    for b, v in shares.items():
        if v <= max_share:
            continue
        chk.flagged.append(b)
        s = scalings[b]
        if s.offset < 0:
            cause = (f"an offset that does not fit the DNs: they look already harmonized (no +1000) while "
                     f"the offset {s.offset:g} (from {s.source}) assumes the processing-baseline 04.00 "
                     f"encoding; try sentinel2.offset: zero")
        else:
            cause = (f"an offset that does not fit the DNs (offset {s.offset:g} from {s.source}), or a "
                     f"scene mostly dark in this band; check the item's raster:bands")
        log.warning(
            "item %s band %s: %.1f%% of the %d valid land pixels read (SCL 4, 5) are below zero after "
            "scale %g and offset %g, above sentinel2.negative_share_max %.1f%%. Likely cause: %s. Wrong "
            "offset metadata in Earth Search is known (%s). The date is flagged (scaling_flag in "
            "s2/date_summary.csv).", iid, b, 100 * v, n, s.scale, s.offset, 100 * max_share, cause,
            OFFSET_ISSUES)
    return chk
