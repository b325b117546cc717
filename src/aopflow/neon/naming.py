"""NEON AOP naming facts, defined once: tile ids, the 1 km tile cell, file names, product codes.

Everything else (the HDF5 reader, the API client, the demo generator, the stages and the rules'
``wildcard_constraints``) imports these instead of spelling them again.

* A tile is the 1 km x 1 km cell of the site's UTM grid named by its lower-left corner;
  its id is ``"EEEEEE_NNNNNNN"`` (6-digit easting, 7-digit northing, metres).
* NEON L3 file names carry that corner: ``NEON_<DOM>_<SITE>_DP3_<EEEEEE>_<NNNNNNN>_<DESC>.<ext>``
  (``..._reflectance.h5`` for DP3.30006.001, ``..._bidirectional_reflectance.h5`` for .002,
  ``..._CHM.tif`` for the canopy height model DP3.30015.001).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from aopflow.errors import NeonFormatError

#: Side of a NEON L3 tile in metres.
TILE_SIZE_M = 1000

_EASTING = r"\d{6}"
_NORTHING = r"\d{7}"
#: Tile id pattern (without anchors), also the snakemake wildcard constraint of ``{tile}``.
TILE_ID_PATTERN = f"{_EASTING}_{_NORTHING}"
TILE_ID_RE = re.compile(rf"^({_EASTING})_({_NORTHING})$")
#: The tile corner inside a NEON file name.
TILE_IN_NAME_RE = re.compile(rf"_({_EASTING})_({_NORTHING})_")

#: Product codes.
REFLECTANCE_001 = "DP3.30006.001"  # directional reflectance (older processing)
REFLECTANCE_002 = "DP3.30006.002"  # bidirectional (BRDF- and topography-corrected) reflectance
CHM = "DP3.30015.001"  # canopy height model (GeoTIFF)
REFLECTANCE_PRODUCTS = (REFLECTANCE_001, REFLECTANCE_002)

#: File-name description per reflectance revision ("001"/"002").
_REFLECTANCE_DESC = {"001": "reflectance", "002": "bidirectional_reflectance"}
#: Reflectance product revisions.
REVISIONS = tuple(_REFLECTANCE_DESC)

#: Which files of a product's listing are "the tile": product code -> pattern of the name's end.
TILE_FILE_PATTERNS: dict[str, re.Pattern[str]] = {
    REFLECTANCE_001: re.compile(r"_reflectance\.h5$"),
    REFLECTANCE_002: re.compile(r"_reflectance\.h5$"),
    CHM: re.compile(r"_CHM\.tif$"),
}
#: Wildcard constraints (snakemake) of the file names of a reflectance tile and of a CHM tile.
REFLECTANCE_NAME_PATTERN = r"NEON_[A-Za-z0-9_]+_reflectance\.h5"
CHM_NAME_PATTERN = r"NEON_[A-Za-z0-9_]+_CHM\.tif"


def format_tile_id(easting: float, northing: float) -> str:
    """Tile id of the lower-left corner ``(easting, northing)`` in metres: ``"EEEEEE_NNNNNNN"``."""
    return f"{int(easting):06d}_{int(northing):07d}"


def parse_tile_id(tile_id: str) -> tuple[int, int]:
    """``(easting, northing)`` in metres of a tile id; ValueError when it is not one."""
    m = TILE_ID_RE.match(tile_id.strip())
    if m is None:
        raise ValueError(f"{tile_id!r} is not a tile id EEEEEE_NNNNNNN")
    return int(m.group(1)), int(m.group(2))


def is_tile_id(value: str) -> bool:
    return TILE_ID_RE.match(value.strip()) is not None


def tile_corner(v: float) -> int:
    """Lower-left corner coordinate (metres) of the tile cell containing coordinate ``v``."""
    return int(math.floor(v / TILE_SIZE_M) * TILE_SIZE_M)


def tile_of_point(x: float, y: float) -> str:
    """Id of the tile cell containing the point ``(x, y)`` (site UTM metres)."""
    return format_tile_id(tile_corner(x), tile_corner(y))


def tile_cell(tile_id: str) -> tuple[int, int, int, int]:
    """``(left, bottom, right, top)`` in metres of the 1 km cell a tile id names."""
    e, n = parse_tile_id(tile_id)
    return e, n, e + TILE_SIZE_M, n + TILE_SIZE_M


def tile_id_from_name(path: str | Path) -> str:
    """Tile id ``"EEEEEE_NNNNNNN"`` (lower-left corner) parsed from a NEON file name."""
    m = TILE_IN_NAME_RE.search(Path(path).name)
    if not m:
        raise NeonFormatError(
            f"{path}: file name does not carry a tile corner; expected NEON naming "
            "'NEON_Dxx_SITE_DP3_EEEEEE_NNNNNNN_..._reflectance.h5' (6-digit easting, "
            "7-digit northing of the lower-left corner). Rename the file to NEON's convention."
        )
    return f"{m.group(1)}_{m.group(2)}"


def reflectance_file_name(domain: str, site: str, tile_id: str, revision: str) -> str:
    """NEON's file name of a reflectance tile of revision ``"001"`` or ``"002"``.

    ``tile_id`` may also be a snakemake wildcard such as ``"{tile}"``.
    """
    try:
        desc = _REFLECTANCE_DESC[revision]
    except KeyError:
        raise ValueError(f"revision {revision!r}; must be one of {sorted(_REFLECTANCE_DESC)}") from None
    return f"NEON_{domain}_{site}_DP3_{tile_id}_{desc}.h5"


def revision_from_name(path: str | Path) -> str | None:
    """``"002"`` for a ``..._bidirectional_reflectance.h5`` name, else ``None`` (not decidable)."""
    return "002" if "bidirectional" in Path(path).name.lower() else None
