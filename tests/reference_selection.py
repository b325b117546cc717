"""Reference of the tile selection by box, for tests: every tile id of a closed box, enumerated.

:func:`aopflow.neon.selection.select_available` picks the available tiles that touch a box
without enumerating it (a box can span a whole state); tests compare it with this enumeration.
"""

from __future__ import annotations

from aopflow.neon.naming import TILE_SIZE_M, format_tile_id, tile_corner


def tiles_in_extent(xmin: float, ymin: float, xmax: float, ymax: float) -> list[str]:
    """Every tile id whose 1 km tile touches the closed box (lower-left ``floor(v/1000)*1000``).

    >>> tiles_in_extent(450500, 3100500, 452000, 3100600)
    ['450000_3100000', '451000_3100000', '452000_3100000']
    """
    return [
        format_tile_id(e, n)
        for e in range(tile_corner(xmin), tile_corner(xmax) + 1, TILE_SIZE_M)
        for n in range(tile_corner(ymin), tile_corner(ymax) + 1, TILE_SIZE_M)
    ]
