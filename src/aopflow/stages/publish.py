"""Publish stage: the run's STAC catalog and its offline site map (``rules/publish.smk``).

Both jobs take the run's final products as inputs (every other stage's targets, see
``rules/publish_common.smk``), so they run again when any product changes and never make
anything upstream run. The work is in :mod:`aopflow.publish`; this module only fixes the
paths of a run: the catalog at ``{root}/stac/catalog.json``, the map at ``{root}/map.html``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from aopflow.publish.sitemap import write_site_map
from aopflow.publish.stac import write_catalog


def site_year_folder(output: str | os.PathLike, levels: int) -> Path:
    """The run's ``{outdir}/{site}/{year}`` folder: ``levels`` folders above ``output``."""
    return Path(output).resolve().parents[levels - 1]


def publish_catalog(*, inputs: Iterable[str], catalog: str, site: str, year: int,
                    config: Mapping, report: str | None, categorical: Iterable[str]) -> Path:
    """Write ``{outdir}/{site}/{year}/stac/catalog.json`` (:func:`aopflow.publish.stac.write_catalog`)."""
    return write_catalog(inputs=inputs, root=site_year_folder(catalog, 2), catalog=catalog,
                         site=site, year=year, config=config, report=report,
                         categorical=categorical)


def publish_map(*, inputs: Iterable[str], html: str, site: str, year: int, id_column: str,
                tiles_csv: str | None, max_px: int, max_mb: float, stretch_percent: float,
                categorical: Iterable[str], basemap: Mapping | None, catalog: str | None, report: str | None) -> Path:
    """Write ``{outdir}/{site}/{year}/map.html`` (:func:`aopflow.publish.sitemap.write_site_map`)."""
    return write_site_map(inputs=inputs, root=site_year_folder(html, 1), html_path=html,
                          site=site, year=year, id_column=id_column, tiles_csv=tiles_csv,
                          max_px=max_px, max_mb=max_mb, stretch_percent=stretch_percent,
                          categorical=categorical, basemap=basemap,
                          catalog=catalog, report=report)
