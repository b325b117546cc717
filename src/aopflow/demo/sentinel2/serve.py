"""Serving a written demo: asset hrefs rewritten to a URL, pgstac load files, fault items."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from aopflow.demo.sentinel2.items import collection_dict
from aopflow.errors import ConfigError
from aopflow.io import atomic_path


def drop_raster_bands(items_json: str | Path, item_id: str, out_path: str | Path | None = None) -> Path:
    """Remove ``raster:bands`` from every asset of one item (fault test); return the file."""
    src = Path(items_json)
    doc = json.loads(src.read_text())
    hit = [f for f in doc["features"] if f["id"] == item_id]
    if not hit:
        raise ConfigError(f"{src}: no item {item_id!r}")
    for a in hit[0]["assets"].values():
        a.pop("raster:bands", None)
    dst = Path(out_path) if out_path else src
    with atomic_path(dst) as tmp:
        tmp.write_text(json.dumps(doc, indent=1))
    return dst


def rewrite_hrefs(items: Sequence[Mapping], root: str | Path, base_url: str) -> list[dict]:
    """Copies of ``items`` whose local asset hrefs under ``root`` become ``base_url/<relpath>``."""
    root = Path(root).resolve()
    out = []
    for it in items:
        it = json.loads(json.dumps(it))
        for a in it["assets"].values():
            p = Path(a["href"])
            if p.is_absolute():
                rel = p.resolve().relative_to(root)
                a["href"] = base_url.rstrip("/") + "/" + rel.as_posix()
        out.append(it)
    return out


def write_served_items(items_json: str | Path, base_url: str, out_dir: str | Path,
                       root: str | Path | None = None, collection: str | None = None
                       ) -> tuple[Path, Path]:
    """Write ``collection.json`` and ``items.ndjson`` (for ``pypgstac load``) into ``out_dir``
    with asset hrefs rewritten to ``base_url`` (files relative to ``root``, default the
    directory of items.json). ``collection`` renames the collection. Returns both paths.
    """
    items_json = Path(items_json)
    doc = json.loads(items_json.read_text())
    items = rewrite_hrefs(doc["features"], root or items_json.parent, base_url)
    if collection:
        for it in items:
            it["collection"] = collection
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    coll = out / "collection.json"
    nd = out / "items.ndjson"
    with atomic_path(coll) as tmp:
        tmp.write_text(json.dumps(collection_dict(items, collection or items[0]["collection"])))
    with atomic_path(nd) as tmp:
        tmp.write_text("".join(json.dumps(it) + "\n" for it in items))
    return coll, nd
