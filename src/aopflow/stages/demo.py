"""Stage `demo` (rules/demo.smk): the generated demo site's tiles, ground truth and plots.

The scene itself is made by :mod:`aopflow.demo.aop`; this module turns the ``demo:`` config
section into its :class:`~aopflow.demo.aop.SiteSpec` and names the files; the species stage's
demo field tables and truth come from :mod:`aopflow.demo.species`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from aopflow.demo.aop import SiteSpec, tile_file_name  # noqa: F401 (used by rules/demo.smk)


def demo_spec(site: str, year: int, demo: Mapping, trees: bool = False) -> SiteSpec:
    """The demo generator's :class:`SiteSpec` from the ``demo:`` config section; ``trees``:
    plant the species stage's tree crowns (``species.source: demo``)."""
    spec = SiteSpec(
        site=site,
        domain=demo["domain"],
        year=int(year),
        epsg=int(demo["epsg"]),
        origin=tuple(int(v) for v in demo["origin"]),
        shape=tuple(int(v) for v in demo["shape"]),
        pixels=int(demo["pixels"]),
        pixel_size=float(demo["pixel_size"]),
        bands=int(demo["bands"]),
        revision=str(demo["revision"]),
        materials=tuple(demo["materials"]),
        seed=int(demo["seed"]),
        noise=float(demo["noise"]),
        chunks=demo["chunks"],
        wqi_dtype=demo.get("wqi_dtype", SiteSpec.wqi_dtype),
        trees=bool(trees),
    )
    spec.validate()
    return spec


def demo_tile_names(spec: SiteSpec) -> dict[str, str]:
    """Tile id -> NEON file name for every tile of the demo site."""
    return {t: tile_file_name(spec, t) for t in spec.tile_ids()}


def species_demo(site: str, year: int, demo: Mapping, *, out_dir: str | os.PathLike,
                 truth: Mapping[str, str | os.PathLike]) -> dict[str, Path]:
    """The demo site's vegetation structure tables and plot points (``out_dir``) and per-tile truth (tile id -> path)."""
    from aopflow.demo.species import write_field_tables, write_truth

    spec = demo_spec(site, year, demo, trees=True)
    files = write_field_tables(spec, out_dir)
    for tile, path in truth.items():
        write_truth(spec, tile, path)
    return files
