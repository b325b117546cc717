"""Which tiles of a site to take: pure geometry, no HTTP.

:func:`select_subset` applies the ``tiles`` key (any source). For ``source: neon``,
``neon.tiles`` (what to list) is ``"all"``, a list of tile ids, a bounding box, or the tiles
around plot points.
Boxes and plot buffers cover every 1 km tile the extent touches (the Python reference client
tests only the four buffer corners, so buffers >= 1000 m skip interior tiles).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aopflow.errors import ConfigError
from aopflow.neon.naming import TILE_SIZE_M, is_tile_id, parse_tile_id, tile_corner, tile_of_point


@dataclasses.dataclass(frozen=True)
class Selection:
    """A parsed ``neon.tiles`` value; points and bbox in the site's UTM metres."""

    kind: str  # "all" | "list" | "bbox" | "around_plots"
    ids: tuple[str, ...] = ()
    bbox: tuple[float, float, float, float] | None = None
    points: tuple[tuple[float, float], ...] = ()
    buffer_m: float = 0.0


_SELECTION_HELP = (
    '"all", a list of tile ids like ["451000_3104000"], {"bbox": [xmin, ymin, '
    'xmax, ymax]} or {"around_plots": {"points": [[x, y], ...], "buffer_m": b}}'
)


def parse_selection(tiles: Any) -> Selection:
    """Parse ``neon.tiles``: ``"all"``, a list of ids, ``{"bbox": [...]}`` or
    ``{"around_plots": {"points": [(x, y), ...], "buffer_m": b}}``; ConfigError otherwise."""
    if isinstance(tiles, str):
        if tiles.strip().lower() == "all":
            return Selection("all")
        tiles = [tiles]
    if isinstance(tiles, Mapping):
        if set(tiles) == {"bbox"}:
            return Selection("bbox", bbox=_parse_bbox(tiles["bbox"]))
        if set(tiles) == {"around_plots"}:
            return _parse_around(tiles["around_plots"])
        raise ConfigError(f"neon.tiles has keys {sorted(tiles)}; must be {_SELECTION_HELP}")
    if isinstance(tiles, Sequence) and tiles and all(isinstance(t, str) for t in tiles):
        bad = [t for t in tiles if not is_tile_id(t)]
        if bad:
            raise ConfigError(
                f"neon.tiles: {bad} are not tile ids; a tile id is the lower-left "
                f"corner EEEEEE_NNNNNNN in metres, e.g. '451000_3104000'"
            )
        return Selection("list", ids=tuple(dict.fromkeys(t.strip() for t in tiles)))
    raise ConfigError(f"neon.tiles is {tiles!r}; must be {_SELECTION_HELP}")


def _finite(v: Any) -> float:
    x = float(v)
    if not math.isfinite(x):
        raise ValueError(v)
    return x


def _parse_bbox(v: Any) -> tuple[float, float, float, float]:
    try:
        xmin, ymin, xmax, ymax = (_finite(c) for c in v)
    except (TypeError, ValueError):
        raise ConfigError(
            f"neon.tiles.bbox is {v!r}; must be 4 numbers [xmin, ymin, xmax, ymax] "
            f"in the site's UTM metres"
        ) from None
    if xmin > xmax or ymin > ymax:
        raise ConfigError(
            f"neon.tiles.bbox {v!r} has xmin > xmax or ymin > ymax; order is "
            f"[xmin, ymin, xmax, ymax]"
        )
    return xmin, ymin, xmax, ymax


def _parse_around(v: Any) -> Selection:
    try:
        pts = tuple((_finite(p[0]), _finite(p[1])) for p in v["points"] if len(p) == 2)
        n = len(v["points"])
        buf = _finite(v.get("buffer_m", 0))
    except (TypeError, ValueError, KeyError, IndexError):
        raise ConfigError(
            f"neon.tiles.around_plots is {v!r}; must be {{'points': [[x, y], ...], "
            f"'buffer_m': metres}} in the site's UTM metres"
        ) from None
    if len(pts) != n or not pts:
        raise ConfigError(
            "neon.tiles.around_plots.points must be a non-empty list of [x, y] "
            "pairs in the site's UTM metres"
        )
    if buf < 0:
        raise ConfigError(f"neon.tiles.around_plots.buffer_m is {buf}; must be >= 0 metres")
    return Selection("around_plots", points=pts, buffer_m=buf)


def _extent_text(available: Iterable[str]) -> str:
    ids = sorted(available)
    es, ns = zip(*map(parse_tile_id, ids))
    shown = ", ".join(ids[:40]) + (f", ... ({len(ids) - 40} more)" if len(ids) > 40 else "")
    return (
        f"{len(ids)} tiles with lower-left eastings {min(es)}-{max(es)} and northings "
        f"{min(ns)}-{max(ns)} (tile extent {min(es)}-{max(es) + TILE_SIZE_M} E, "
        f"{min(ns)}-{max(ns) + TILE_SIZE_M} N): {shown}"
    )


def select_available(
    sel: Selection, available: Iterable[str], *, product: str, site: str, year: int
) -> list[str]:
    """The ids among ``available`` that ``sel`` selects; ConfigError naming ``neon.tiles`` and
    the available extent when selected tiles are missing (``product``, ``site``, ``year`` only
    name the listing in that message)."""
    available = dict.fromkeys(available)  # ordered, O(1) membership
    where = f"{product} at {site} in {year}"
    if sel.kind == "all":
        return list(available)
    if sel.kind == "list":
        missing = [t for t in sel.ids if t not in available]
        if missing:
            raise ConfigError(
                f"neon.tiles: {missing} are not available for {where}. "
                f"Available: {_extent_text(available)}."
            )
        return list(sel.ids)
    if sel.kind == "bbox":
        chosen = _touching(available, *sel.bbox)
        if not chosen:
            raise ConfigError(
                f"neon.tiles.bbox {list(sel.bbox)} touches no tile of {where}. "
                f"Available: {_extent_text(available)}."
            )
        return chosen
    # around_plots: the buffer may run past the site edge (those tiles are simply absent), but
    # a plot whose own tile is missing cannot be analysed.
    outside = [
        (x, y) for x, y in sel.points if tile_of_point(x, y) not in available
    ]
    if outside:
        raise ConfigError(
            f"neon.tiles.around_plots: points {outside} fall outside the tiles of "
            f"{where}. Available: {_extent_text(available)}."
        )
    b = sel.buffer_m
    wanted = dict.fromkeys(
        t for x, y in sel.points for t in _touching(available, x - b, y - b, x + b, y + b)
    )
    return list(wanted)


def _touching(
    available: Iterable[str], xmin: float, ymin: float, xmax: float, ymax: float
) -> list[str]:
    """The ids among ``available`` whose 1 km tile touches the closed box (lower-left corners
    ``floor(v / 1000) * 1000``), without enumerating the box (it may span a state)."""
    e0, e1, n0, n1 = tile_corner(xmin), tile_corner(xmax), tile_corner(ymin), tile_corner(ymax)
    out = []
    for t in available:
        e, n = parse_tile_id(t)
        if e0 <= e <= e1 and n0 <= n <= n1:
            out.append(t)
    return out



def select_subset(available: Sequence[str], subset: Any, key: str = "tiles") -> list[str]:
    """Apply the ``tiles`` subset (``"all"``/None or a list of ids) to the available tile ids;
    sorted. ConfigError naming ``key`` and the available tiles when a listed tile is missing."""
    available = list(available)
    if subset in (None, "all"):
        return sorted(available)
    missing = sorted(set(subset) - set(available))
    if missing:
        raise ConfigError(
            f"{key}: tiles {missing} are not part of this site; available tiles: {sorted(available)}"
        )
    return sorted(subset)
