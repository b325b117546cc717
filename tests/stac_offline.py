"""Validate STAC JSON with stac-validator against the schemas in tests/data/stac_schemas, offline.

stac-validator resolves a core schema URL (``https://schemas.stacspec.org/v1.1.0/...``), the
extension URLs in ``stac_extensions`` and every ``$ref`` through its ``schema_map`` (URL ->
local file) before fetching; :data:`SCHEMA_MAP` maps each URL the catalog needs to the copy
shipped here. :func:`no_network` makes any remaining fetch (``requests.get``, ``urlopen``)
fail the test instead of reaching the internet.
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

import pytest

SCHEMAS = Path(__file__).parent / "data" / "stac_schemas"
_CORE = "https://schemas.stacspec.org/v1.1.0"
_ITEM_SPEC = ("bands", "basics", "common", "data-values", "datetime", "instrument", "item",
              "licensing", "provider")

SCHEMA_MAP: dict[str, str] = {
    **{f"{_CORE}/item-spec/json-schema/{n}.json": str(SCHEMAS / "stac-spec-v1.1.0" / f"{n}.json")
       for n in _ITEM_SPEC},
    f"{_CORE}/catalog-spec/json-schema/catalog.json": str(SCHEMAS / "stac-spec-v1.1.0" / "catalog.json"),
    f"{_CORE}/collection-spec/json-schema/collection.json":
        str(SCHEMAS / "stac-spec-v1.1.0" / "collection.json"),
    "https://geojson.org/schema/Feature.json": str(SCHEMAS / "geojson" / "Feature.json"),
    "https://geojson.org/schema/Geometry.json": str(SCHEMAS / "geojson" / "Geometry.json"),
    "http://json-schema.org/draft-07/schema": str(SCHEMAS / "draft-07-schema.json"),
    "http://json-schema.org/draft-07/schema#": str(SCHEMAS / "draft-07-schema.json"),
    **{f"https://stac-extensions.github.io/{n}/{v}/schema.json": str(SCHEMAS / f"{n}-{v}.json")
       for n, v in (("projection", "v1.2.0"), ("raster", "v1.1.0"), ("eo", "v1.1.0"),
                    ("file", "v2.1.0"))},
}


@pytest.fixture
def no_network(monkeypatch):
    """Any HTTP fetch by stac-validator (requests or urllib) raises instead of connecting."""
    import urllib.request

    import requests

    def refuse(url, *args, **kwargs):
        raise AssertionError(f"network access during an offline test: {url}")

    monkeypatch.setattr(requests, "get", refuse)
    monkeypatch.setattr(requests.Session, "get", lambda self, url, *a, **k: refuse(url))
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    with quiet_import():
        import stac_validator.utilities as u

    monkeypatch.setattr(u, "urlopen", refuse)
    u.fetch_and_parse_schema.cache_clear()


@contextlib.contextmanager
def quiet_import():
    """stac_valid 4.2 installs the module ``stac_validator`` whose ``__init__`` warns that the
    *distribution* stac_validator is deprecated in favour of stac_valid (the one installed)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"The 'stac_validator' package has been deprecated",
                                DeprecationWarning)
        yield


def validate_offline(path: Path) -> list[dict]:
    """stac-validator's messages for a catalog/collection/item and everything below it
    (``recursive``), using only the shipped schemas; every message says valid or why not."""
    with quiet_import():
        from stac_validator.validate import StacValidate

    v = StacValidate(str(path), recursive=True, max_depth=None, schema_map=SCHEMA_MAP)
    v.run()
    return v.message
