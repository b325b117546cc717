"""aopflow.neon.selection: which tiles a bbox, a list or plot buffers select (no HTTP)."""

from __future__ import annotations

import numpy as np
import pytest

from aopflow.errors import ConfigError
from aopflow.neon.selection import parse_selection, select_available, select_subset

from reference_selection import tiles_in_extent


def test_reference_tiles_in_extent_hand_computed():
    assert tiles_in_extent(450500, 3100500, 452000, 3100600) == [
        "450000_3100000",
        "451000_3100000",
        "452000_3100000",
    ]
    assert tiles_in_extent(999.0, 1000.0, 999.0, 1000.0) == ["000000_0001000"]
    assert len(tiles_in_extent(0, 0, 4999, 2999)) == 5 * 3


AVAILABLE = [f"{e}_{n}" for e in (450000, 451000, 452000) for n in (3100000, 3101000, 3102000)]


def _select(tiles):
    return select_available(parse_selection(tiles), AVAILABLE, product="P", site="S", year=2024)


def test_bbox_selects_the_available_tiles_of_the_enumerated_box():
    rng = np.random.default_rng(1)
    for _ in range(200):
        x0, y0 = rng.uniform(449000, 453500), rng.uniform(3099000, 3103500)
        x1, y1 = x0 + rng.choice([0.0, 1000.0, rng.uniform(0, 2500)]), y0 + rng.uniform(0, 2500)
        want = [t for t in tiles_in_extent(x0, y0, x1, y1) if t in AVAILABLE]
        if not want:
            with pytest.raises(ConfigError, match="touches no tile"):
                _select({"bbox": [x0, y0, x1, y1]})
            continue
        assert sorted(_select({"bbox": [x0, y0, x1, y1]})) == sorted(want)


def test_selection_without_http():
    assert _select("all") == AVAILABLE
    assert _select(["451000_3101000", "451000_3101000"]) == ["451000_3101000"]
    # A bbox corner exactly on a tile border touches the next tile too (closed box).
    assert _select({"bbox": [450000, 3100000, 451000, 3100500]}) == [
        "450000_3100000",
        "451000_3100000",
    ]
    # A 200 m buffer around a point 100 m from the east edge of tile 450000_3100000.
    assert _select({"around_plots": {"points": [(450900, 3100500)], "buffer_m": 200}}) == [
        "450000_3100000",
        "451000_3100000",
    ]


def test_selection_of_missing_tiles_names_the_extent():
    with pytest.raises(ConfigError, match=r"neon\.tiles: \['999000_9999000'\] are not available"):
        _select(["999000_9999000"])
    with pytest.raises(ConfigError, match="outside the tiles"):
        _select({"around_plots": {"points": [(0, 0)], "buffer_m": 1}})


def test_tiles_subset():
    assert select_subset(["b", "a"], "all") == ["a", "b"]
    assert select_subset(["451000_3101000", "450000_3100000"], ["451000_3101000"]) == ["451000_3101000"]
    with pytest.raises(ConfigError, match=r"tiles: tiles \['999000_9999000'\] are not part of this site"):
        select_subset(["450000_3100000"], ["999000_9999000"])
