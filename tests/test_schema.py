"""config/schema.yaml copies the package's strategy tables: its enums must equal them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from aopflow import spectral
from aopflow.demo.aop import CHUNK_PROFILES, MATERIALS
from aopflow.neon import naming
from aopflow.neon.layers import ANCILLARY_ALIASES
from aopflow.products import MOSAIC_PRODUCTS, S2_PRODUCT_PATTERN, S2_PRODUCTS
from aopflow.sentinel2.scaling import OFFSETS
from aopflow.species.crowns import OVERLAP
from aopflow.species.model import CLASSIFIERS, FEATURES
from aopflow.species.tables import CROWN_RADIUS, RARE_TAXA
from aopflow.zonal import RASTER_NAME_PATTERN, STATS

SCHEMA_TEXT = (Path(__file__).resolve().parents[1] / "config" / "schema.yaml").read_text()
SCHEMA = yaml.safe_load(SCHEMA_TEXT)


def node(path: str) -> dict:
    """The schema of a dotted config key (``items`` for the elements of an array)."""
    out = SCHEMA
    for part in path.split("."):
        if part == "[]":
            out = out["items"]
        elif part.startswith("anyOf"):  # anyOf0: the first alternative
            out = out["anyOf"][int(part[5:])]
        else:
            out = out["properties"][part]
    return out


@pytest.mark.parametrize(
    "key, table",
    [
        ("endmembers.method", spectral.ENDMEMBER_METHODS),
        ("unmix.method", spectral.UNMIX_METHODS),
        ("zonal.stats.[]", STATS),
        ("downscale.products.[].anyOf0", MOSAIC_PRODUCTS),
        ("ancillary_layers.[]", {a for names in ANCILLARY_ALIASES.values() for a in names}),
        ("neon.product", naming.REFLECTANCE_PRODUCTS),
        ("demo.revision", naming.REVISIONS),
        ("demo.materials.[]", MATERIALS),
        ("demo.chunks", [*CHUNK_PROFILES, "auto"]),
        ("sentinel2.offset", OFFSETS),
        ("species.classifier", CLASSIFIERS),
        ("species.features.bands", FEATURES),
        ("species.crown.radius", CROWN_RADIUS),
        ("species.crown.overlap", OVERLAP),
        ("species.rare_taxa", RARE_TAXA),
    ],
)
def test_schema_enum_equals_package_table(key, table):
    assert sorted(node(key)["enum"]) == sorted(table)


def test_downscale_s2_pattern_equals_the_product_table():
    # Sentinel-2 products are named by pattern (per-date names too); the package reads the same.
    assert node("downscale.products.[].anyOf1")["pattern"] == S2_PRODUCT_PATTERN
    for name in S2_PRODUCTS:
        assert re.fullmatch(S2_PRODUCT_PATTERN, name)


def test_figure_stat_pattern_names_the_statistics():
    pattern = node("zonal.figure_stat")["pattern"]
    names = re.fullmatch(r"\^\(([a-z|]+)\|p.*\)\$", pattern).group(1).split("|")
    assert sorted(names) == sorted(STATS)
    for ok in ("mean", "p90", "p2.5", "p100"):
        assert re.fullmatch(pattern, ok)
    for bad in ("average", "p101", "p-1", "mean "):
        assert not re.fullmatch(pattern, bad)


def test_raster_name_patterns_equal_the_zonal_wildcard():
    # zonal.zero_is_nodata and zonal.categorical name rasters as the {zname} wildcard does.
    rules = (Path(__file__).resolve().parents[1] / "rules" / "zonal_common.smk").read_text()
    assert "zname=RASTER_NAME_PATTERN," in rules
    for key in ("zonal.zero_is_nodata.[]", "zonal.categorical.[]"):
        assert node(key)["pattern"] == f"^{RASTER_NAME_PATTERN}$"


def test_tile_id_patterns_equal_naming():
    # Every schema pattern of a tile id accepts exactly what aopflow.neon.naming does.
    patterns = set(re.findall(r'pattern: "(\^\[0-9\]\{6\}_\[0-9\]\{7\}\$)"', SCHEMA_TEXT))
    assert patterns, "no tile-id pattern found in the schema"
    for pattern in patterns:
        for value in ("257000_4111000", "000000_0001000", "25700_4111000", "257000-4111000", "a57000_4111000"):
            assert bool(re.fullmatch(pattern, value)) == naming.is_tile_id(value), (pattern, value)
