"""Write a whole demo: scene COGs, items, collection and truth (:func:`write_demo_scenes`).

Files (``out_dir``): ``items.json`` (ItemCollection, written last), ``collection.json``,
``scenes/{item_id}/{asset}.tif`` (COGs), ``truth/{date}/...`` (see
:mod:`aopflow.demo.sentinel2.truth`) and ``truth/truth.json`` (per date: item ids, baselines,
offsets the DNs are encoded with and those their metadata states, cloud cover, valid fraction
over the site).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from aopflow.demo.aop import SiteSpec
from aopflow.demo.sentinel2.bands import BAND_KEYS
from aopflow.demo.sentinel2.grid import SceneGrid
from aopflow.demo.sentinel2.items import collection_dict, item_dict
from aopflow.demo.sentinel2.scene import GeneratedScene, make_scene
from aopflow.demo.sentinel2.spec import S2DemoSpec
from aopflow.demo.sentinel2.truth import DEFAULT_MASK_CLASSES, check_resolution, write_date_truth
from aopflow.errors import ConfigError
from aopflow.io import atomic_path
from aopflow.raster import write_cog

log = logging.getLogger(__name__)


def _write_cog(path: Path, arr: np.ndarray, grid: SceneGrid, res: float, dtype: str,
               resampling: str) -> None:
    """An asset COG like Earth Search's L2A ones (integer DN, nodata 0, horizontal predictor);
    deflate level 1: a third of the default level's time, files ~10 % larger."""
    write_cog(path, arr.astype(dtype, copy=False), crs=grid.epsg, transform=grid.transform(res),
              nodata=0, overview_resampling=resampling, level=1, predictor=2)


def write_demo_scenes(aop_spec: SiteSpec, s2_spec: S2DemoSpec, out_dir: str | Path,
                      resolution: float = 10, mask_classes: Iterable[int] = DEFAULT_MASK_CLASSES
                      ) -> Path:
    """Write the demo scenes, their ItemCollection and the ground truth; return items.json.

    ``resolution`` (m) and ``mask_classes`` only shape the truth files. See the module
    docstring for the layout. items.json is written last, so it exists only when all is done.
    """
    s2_spec.validate()
    res = check_resolution(resolution)
    mask_classes = tuple(int(c) for c in mask_classes)
    out = Path(out_dir)
    cache: dict = {}
    scenes: list[GeneratedScene] = []
    for k, s in enumerate(s2_spec.all_scenes()):
        sc = make_scene(s2_spec, aop_spec, s, k, cache)
        d = out / "scenes" / sc.item_id
        for key in BAND_KEYS:
            _write_cog(d / f"{key}.tif", sc.dn[key], sc.grid, 10.0, "uint16", "average")
        _write_cog(d / "scl.tif", sc.scl, sc.grid, 20.0, "uint8", "nearest")
        scenes.append(sc)
        log.info("demo scene %s: %s, cloud %.1f %%", sc.item_id, sc.grid, 100 * s.cloud_fraction)
    ids = [sc.item_id for sc in scenes]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"demo scenes: duplicate item ids {sorted(ids)}")
    unknown = set(s2_spec.drop_raster_bands) - set(ids)
    if unknown:
        raise ConfigError(
            f"sentinel2.demo.drop_raster_bands: no demo item {sorted(unknown)}; items: {ids}"
        )
    items = [item_dict(s2_spec, sc, out / "scenes" / sc.item_id) for sc in scenes]

    # Truth per date; the site's zone first so "first with data" prefers the on-grid scene.
    by_date: dict[str, list[GeneratedScene]] = {}
    for sc in scenes:
        by_date.setdefault(sc.scene.date, []).append(sc)
    summary = {"resolution": res, "mask_classes": list(mask_classes), "bands": list(BAND_KEYS),
               "dates": {}}
    for date, group in sorted(by_date.items()):
        group.sort(key=lambda sc: sc.grid.epsg != aop_spec.epsg)
        valid_fraction = write_date_truth(aop_spec, group, out / "truth" / date,
                                          mask_classes, res)
        summary["dates"][date] = {
            "items": [sc.item_id for sc in group],
            "epsg": [sc.grid.epsg for sc in group],
            "processing_baselines": [sc.scene.processing_baseline for sc in group],
            "offsets": [sc.offset for sc in group],
            "metadata_offsets": [sc.scene.metadata_offset for sc in group],
            "cloud_cover": [it["properties"]["eo:cloud_cover"] for it in items
                            if it["id"] in {sc.item_id for sc in group}],
            "valid_fraction": valid_fraction,
        }
    with atomic_path(out / "truth" / "truth.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=1))
    with atomic_path(out / "collection.json") as tmp:
        tmp.write_text(json.dumps(collection_dict(items, s2_spec.collection), indent=1))
    path = out / "items.json"
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps({"type": "FeatureCollection", "features": items}, indent=1))
    return path
