"""The ``aopflow`` command: look at NEON tiles the way the workflow's reader sees them.

``aopflow info TILE.h5 [...]`` prints, for each file, what :class:`aopflow.neon.reader.NeonTile`
reads from it (site, product revision, CRS, bounds, pixel size, shape, wavelengths, no-data,
scale factor, bad-band windows, ancillary layers with dtype and no-data, chunk layout and
compression), or the reader's error for a file it cannot use. Nothing here parses NEON metadata:
every value comes from :class:`~aopflow.neon.reader.TileMeta` and
:meth:`~aopflow.neon.reader.NeonTile.layer_info`.

The workflow itself runs with ``snakemake`` (see the README).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from aopflow import __version__
from aopflow.errors import AopflowError
from aopflow.neon.reader import NeonTile, tile_id_from_name

DESCRIPTION = (
    "aopflow turns NEON AOP hyperspectral reflectance tiles (DP3.30006.001/.002, HDF5) into "
    "site-wide analysis-ready products. The workflow runs with `snakemake` in the repository "
    "(see its README); this command inspects tiles."
)

INFO_HELP = (
    "Print what aopflow's reader sees in each NEON reflectance tile: site, product revision, "
    "CRS, bounds, pixel size, rows x cols x bands, wavelength range, no-data, scale factor, "
    "bad-band windows, ancillary layers (dtype and no-data), chunk layout and compression. "
    "A file the reader cannot use is reported with the reader's error; the exit status is 1 "
    "if any file failed, else 0."
)


def _number(v: float | None):
    """JSON-safe number: integral floats as ints, NaN as None."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return int(v) if float(v).is_integer() else float(v)


def tile_info(path: str | Path) -> dict:
    """What the reader sees in one tile, as a JSON-ready dict (raises the reader's errors)."""
    with NeonTile(path, cache_mb=0) as tile:
        m = tile.meta
        layers = [tile.layer_info(name) for name in m.ancillary]
    try:
        tile_id = tile_id_from_name(m.path)
    except AopflowError:
        tile_id = None  # a file not named the NEON way is still readable
    return {
        "path": str(m.path),
        "tile": tile_id,
        "site": m.site,
        "product": m.product,
        "revision": m.revision,
        "crs": f"EPSG:{m.epsg}",
        "bounds": {k: _number(v) for k, v in zip(("left", "bottom", "right", "top"), m.bounds)},
        "pixel_size_m": [_number(v) for v in m.res],
        "rows": m.rows,
        "cols": m.cols,
        "bands": m.bands,
        "dtype": m.dtype.name,
        "wavelength_nm": [float(m.wavelengths.min()), float(m.wavelengths.max())],
        "nodata": _number(m.nodata),
        "scale_factor": _number(m.scale_factor),
        "band_windows_nm": [[_number(lo), _number(hi)] for lo, hi in m.band_windows],
        "band_windows_in_file": m.band_windows_in_file,
        "chunks": list(m.chunks) if m.chunks else None,
        "compression": m.compression,
        "compression_opts": m.compression_opts,
        "shuffle": m.shuffle,
        "ancillary": [
            {
                "name": info.name,
                "hdf5_path": info.hdf5_path,
                "dtype": info.dtype.name,
                "shape": list(info.shape),
                "nodata": _number(info.nodata),
                "nodata_source": info.nodata_source,
            }
            for info in layers
        ],
    }


def _fmt(v) -> str:
    return "none" if v is None else f"{v:g}" if isinstance(v, float) else str(v)


def format_info(info: dict) -> str:
    """Human-readable report of :func:`tile_info`'s dict."""
    b = info["bounds"]
    if info["chunks"]:
        storage = " x ".join(map(str, info["chunks"])) + " chunks"
    else:
        storage = "contiguous (not chunked)"
    if info["compression"]:
        level = f" level {info['compression_opts']}" if info["compression_opts"] is not None else ""
        storage += f", {info['compression']}{level}" + (" + shuffle" if info["shuffle"] else "")
    else:
        storage += ", uncompressed"
    windows = ", ".join(f"{_fmt(lo)}-{_fmt(hi)}" for lo, hi in info["band_windows_nm"]) + " nm"
    if not info["band_windows_in_file"]:
        windows += " (defaults: the file has no Band_Window_* attributes)"
    wl = info["wavelength_nm"]
    rows = [
        ("site", f"{info['site']}" + (f", tile {info['tile']}" if info["tile"] else "")),
        ("product", f"{info['product']} (revision {info['revision']})"),
        ("CRS", info["crs"]),
        ("bounds", f"left {_fmt(b['left'])}, bottom {_fmt(b['bottom'])}, "
                   f"right {_fmt(b['right'])}, top {_fmt(b['top'])} (m)"),
        ("pixel size", " x ".join(_fmt(v) for v in info["pixel_size_m"]) + " m"),
        ("shape", f"{info['rows']} rows x {info['cols']} cols x {info['bands']} bands ({info['dtype']})"),
        ("wavelengths", f"{wl[0]:.2f} - {wl[1]:.2f} nm"),
        ("nodata", _fmt(info["nodata"])),
        ("scale factor", _fmt(info["scale_factor"])),
        ("bad bands", windows),
        ("storage", storage),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [info["path"], *(f"  {k:<{width}}  {v}" for k, v in rows)]
    if not info["ancillary"]:
        lines.append(f"  {'ancillary':<{width}}  none")
    else:
        lines.append(f"  {'ancillary':<{width}}  {len(info['ancillary'])} layers")
        name_w = max(len(a["name"]) for a in info["ancillary"])
        dtype_w = max(len(a["dtype"]) for a in info["ancillary"])
        for a in info["ancillary"]:
            shape = " x ".join(map(str, a["shape"]))
            lines.append(
                f"    {a['name']:<{name_w}}  {a['dtype']:<{dtype_w}}  {shape:<11}  "
                f"nodata {_fmt(a['nodata'])} ({a['nodata_source']})"
            )
    return "\n".join(lines)


def cmd_info(args: argparse.Namespace) -> int:
    results, failed = [], 0
    for path in args.files:
        try:
            info = tile_info(path)
        except AopflowError as exc:
            failed += 1
            results.append({"path": str(path), "error": str(exc)})
            if not args.json:
                print(f"aopflow info: error: {exc}", file=sys.stderr)
            continue
        results.append(info)
        if not args.json:
            print(format_info(info))
            if len(args.files) > 1:
                print()
    if args.json:
        json.dump(results, sys.stdout, indent=2)
        sys.stdout.write("\n")
    if failed and len(args.files) > 1:
        print(f"aopflow info: {failed} of {len(args.files)} files failed", file=sys.stderr)
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aopflow", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"aopflow {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    info = sub.add_parser(
        "info", help="show what aopflow's reader sees in NEON reflectance tiles",
        description=INFO_HELP,
    )
    info.add_argument("files", nargs="+", metavar="TILE.h5", help="NEON reflectance tile(s)")
    info.add_argument(
        "--json", action="store_true",
        help="machine-readable output: a JSON list with one object per file "
             "(an object with 'path' and 'error' for a file that failed)",
    )
    info.set_defaults(func=cmd_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``aopflow`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:
        # The reader of our output went away (`aopflow info ... | head`): stop quietly, and
        # point stdout at /dev/null so the interpreter's final flush does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
