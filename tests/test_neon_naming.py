"""aopflow.neon.naming: the NEON naming facts, hand-checked against real NEON names."""

from __future__ import annotations

import re

import pytest

from aopflow.errors import NeonFormatError
from aopflow.neon import naming


def test_tile_ids_round_trip_and_cells():
    assert naming.format_tile_id(257000, 4111000) == "257000_4111000"
    assert naming.format_tile_id(0, 1000) == "000000_0001000"
    assert naming.parse_tile_id("257000_4111000") == (257000, 4111000)
    assert naming.tile_cell("257000_4111000") == (257000, 4111000, 258000, 4112000)
    assert naming.tile_of_point(257999.9, 4111000.0) == "257000_4111000"
    assert naming.tile_of_point(258000.0, 4110999.9) == "258000_4110000"
    for bad in ("257000-4111000", "25700_4111000", "257000_411100"):
        assert not naming.is_tile_id(bad)
        with pytest.raises(ValueError):
            naming.parse_tile_id(bad)


@pytest.mark.parametrize(
    "name, pattern",
    [
        ("NEON_D17_SJER_DP3_257000_4111000_reflectance.h5", naming.REFLECTANCE_NAME_PATTERN),
        ("NEON_D03_DSNY_DP3_454000_3113000_bidirectional_reflectance.h5", naming.REFLECTANCE_NAME_PATTERN),
        ("NEON_D17_SJER_DP3_257000_4111000_CHM.tif", naming.CHM_NAME_PATTERN),
    ],
)
def test_real_names_match_the_wildcard_patterns(name, pattern):
    assert re.fullmatch(pattern, name)
    assert re.fullmatch(naming.TILE_ID_PATTERN, naming.tile_id_from_name(name))


def test_file_names_of_both_revisions():
    assert naming.reflectance_file_name("D17", "SJER", "257000_4111000", "001") == (
        "NEON_D17_SJER_DP3_257000_4111000_reflectance.h5")
    name = naming.reflectance_file_name("D03", "DSNY", "{tile}", "002")
    assert name == "NEON_D03_DSNY_DP3_{tile}_bidirectional_reflectance.h5"
    assert naming.revision_from_name(name) == "002"
    assert naming.revision_from_name("NEON_D17_SJER_DP3_257000_4111000_reflectance.h5") is None
    with pytest.raises(ValueError, match="revision"):
        naming.reflectance_file_name("D03", "DSNY", "{tile}", "003")
    with pytest.raises(NeonFormatError, match="EEEEEE_NNNNNNN"):
        naming.tile_id_from_name("reflectance.h5")


def test_listed_tile_files_of_each_product():
    pats = naming.TILE_FILE_PATTERNS
    assert set(pats) == {naming.REFLECTANCE_001, naming.REFLECTANCE_002, naming.CHM}
    assert pats[naming.CHM].search("NEON_D17_SJER_DP3_257000_4111000_CHM.tif")
    assert not pats[naming.CHM].search("NEON_D17_SJER_DP3_257000_4111000_reflectance.h5")
    assert pats[naming.REFLECTANCE_002].search("X_bidirectional_reflectance.h5")
