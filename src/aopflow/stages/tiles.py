"""Stage `tiles` (rules/tiles.smk): which tiles make up a site, for each tile source, and the
site's tile list (used by the workflow at parse time and by rule tile_listing)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aopflow.errors import ConfigError
from aopflow.neon.reader import tile_id_from_name


def local_tiles(h5_dir: str | Path | None) -> dict[str, Path]:
    """Tile id -> path of every NEON reflectance tile under ``h5_dir`` (searched recursively)."""
    if not h5_dir:
        raise ConfigError("source is 'local' but local.h5_dir is not set; give the folder of your .h5 tiles.")
    root = Path(h5_dir)
    if not root.is_dir():
        raise ConfigError(f"local.h5_dir: folder {root} does not exist.")
    tiles: dict[str, Path] = {}
    for p in sorted(root.rglob("*.h5")):
        # Hidden files and folders (".x.part.h5" of an interrupted copy or download) are not tiles.
        if "reflectance" not in p.name.lower() or any(part.startswith(".") for part in p.relative_to(root).parts):
            continue
        tid = tile_id_from_name(p)
        if tid in tiles:
            raise ConfigError(
                f"local.h5_dir: two files for tile {tid}: {tiles[tid]} and {p}. Keep one per tile "
                "(e.g. one product revision) in the folder."
            )
        tiles[tid] = p.resolve()
    if not tiles:
        raise ConfigError(
            f"local.h5_dir: no NEON reflectance tiles (*reflectance.h5 named with "
            f"EASTING_NORTHING) found under {root}."
        )
    return tiles


def endmember_library(path: str | Path | None) -> list[str]:
    """``endmembers.library`` as a rule input: [] when unset, else [path] of an existing file."""
    if not path:
        return []
    if not Path(path).is_file():
        raise ConfigError(
            f"endmembers.library: file {path} does not exist. Give a CSV of reference spectra "
            "(wavelength_nm, then one column per endmember), or null to extract endmembers."
        )
    return [str(path)]


def write_listing(tiles: Sequence[str], h5_files: Sequence[str | Path], csv_path: str | Path) -> Path:
    """Write ``tiles.csv`` (tile, file, size_bytes, epsg, left, bottom, right, top, revision).

    Each file is opened (metadata only) and checked against the 1 km cell its name names.
    """
    import csv

    from aopflow.io import atomic_path
    from aopflow.neon.reader import check_tile_in_cell, read_meta

    rows = []
    for tile, path in zip(tiles, h5_files):
        meta = read_meta(path)
        check_tile_in_cell(meta, tile)
        left, bottom, right, top = meta.bounds
        rows.append({
            "tile": tile, "file": Path(path).name, "size_bytes": Path(path).stat().st_size,
            "epsg": meta.epsg, "left": left, "bottom": bottom, "right": right, "top": top,
            "revision": meta.revision, "bands": meta.bands,
        })
    epsgs = {r["epsg"] for r in rows}
    if len(epsgs) > 1:
        by = {e: [r["file"] for r in rows if r["epsg"] == e] for e in sorted(epsgs)}
        from aopflow.errors import SiteError

        raise SiteError(
            f"Tiles of one site must share a CRS, found EPSG codes {by}. Restrict 'tiles' to one "
            "UTM zone (or process each zone as its own site)."
        )
    with atomic_path(csv_path) as tmp:
        with open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["tile"])
            w.writeheader()
            w.writerows(rows)
    return Path(csv_path)
