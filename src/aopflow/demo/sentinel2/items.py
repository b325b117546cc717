"""STAC items and collection of the demo scenes, following Earth Search v1 (``sentinel-2-l2a``).

Ids ``S2B_11SMB_20240615_0_L2A``, ``eo:cloud_cover`` (percent of the valid area in SCL 8, 9,
10), ``s2:processing_baseline``, ``proj:epsg``, ``mgrs:*``, ``earthsearch:boa_offset_applied``,
per asset ``raster:bands`` (scale, offset, nodata, data_type), ``proj:shape`` and
``proj:transform``; ``bbox`` and ``geometry`` (the valid-data footprint) in EPSG:4326. Asset
hrefs are absolute local paths; :func:`aopflow.demo.sentinel2.serve.write_served_items`
rewrites them to a base URL for a STAC API.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from aopflow.demo.sentinel2.bands import BAND_KEYS, BANDS
from aopflow.demo.sentinel2.encoding import SCALE
from aopflow.demo.sentinel2.scene import GeneratedScene
from aopflow.demo.sentinel2.spec import COLLECTION, S2DemoSpec

STAC_EXTENSIONS = [
    "https://stac-extensions.github.io/processing/v1.1.0/schema.json",
    "https://stac-extensions.github.io/grid/v1.0.0/schema.json",
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "https://stac-extensions.github.io/view/v1.0.0/schema.json",
    "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
    "https://stac-extensions.github.io/mgrs/v1.0.0/schema.json",
    "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
]
COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"


def item_dict(spec: S2DemoSpec, sc: GeneratedScene, scene_dir: Path,
          bands: Sequence[str] = BAND_KEYS) -> dict:
    """The Earth Search v1 item of a scene (assets ``bands`` + scl under ``scene_dir``)."""
    s, g = sc.scene, sc.grid
    zone, band, square = sc.mgrs
    baseline = s.processing_baseline
    n_base = baseline.replace(".", "")
    stamp = f"{s.day:%Y%m%d}T{s.time[:8].replace(':', '')}"
    gen = s.day + dt.timedelta(days=0)
    scl = sc.scl
    n_all = scl.size
    n_valid = int((scl != 0).sum())

    def pct(*codes):
        return round(100.0 * float(np.isin(scl, codes).sum()) / max(n_valid, 1), 6)

    lons = [p[0] for p in sc.footprint]
    lats = [p[1] for p in sc.footprint]
    doy = s.day.timetuple().tm_yday
    decl = 23.44 * np.sin(np.radians(360.0 / 365.0 * (doy - 81)))
    lat_c = float(np.mean(lats))
    props = {
        "created": f"{gen.isoformat()}T23:59:00.000Z",
        "platform": s.platform,
        "constellation": "sentinel-2",
        "instruments": ["msi"],
        "eo:cloud_cover": pct(8, 9, 10),
        "proj:epsg": g.epsg,
        "mgrs:utm_zone": zone,
        "mgrs:latitude_band": band,
        "mgrs:grid_square": square,
        "grid:code": f"MGRS-{zone}{band}{square}",
        # Approximate sun position at the 10:30 local-solar-time overpass.
        "view:sun_azimuth": round(150.0 - 0.3 * (lat_c - decl), 6),
        "view:sun_elevation": round(90.0 - abs(lat_c - decl) - 12.0, 6),
        "s2:degraded_msi_data_percentage": 0,
        "s2:nodata_pixel_percentage": round(100.0 * (n_all - n_valid) / n_all, 6),
        "s2:saturated_defective_pixel_percentage": pct(1),
        "s2:dark_features_percentage": pct(2),
        "s2:cloud_shadow_percentage": pct(3),
        "s2:vegetation_percentage": pct(4),
        "s2:not_vegetated_percentage": pct(5),
        "s2:water_percentage": pct(6),
        "s2:unclassified_percentage": pct(7),
        "s2:medium_proba_clouds_percentage": pct(8),
        "s2:high_proba_clouds_percentage": pct(9),
        "s2:thin_cirrus_percentage": pct(10),
        "s2:snow_ice_percentage": pct(11),
        "s2:product_type": "S2MSI2A",
        "s2:processing_baseline": baseline,
        "s2:product_uri": f"{sc.item_id[:3]}_MSIL2A_{stamp}_N{n_base}_R027_T{zone}{band}{square}_{s.day:%Y%m%d}T235900.SAFE",
        "s2:generation_time": f"{gen.isoformat()}T23:59:00.000000Z",
        "s2:datatake_id": f"G{sc.item_id[:3]}_{stamp}_000000_N{baseline}",
        "s2:datatake_type": "INS-NOBS",
        "s2:sequence": "0",
        "datetime": f"{s.day.isoformat()}T{s.time}000Z",
        "earthsearch:boa_offset_applied": s.metadata_offset != 0.0,
        "processing:software": {"aopflow-demo-sentinel2": "1"},
        "updated": f"{gen.isoformat()}T23:59:00.000Z",
    }
    drop = sc.item_id in spec.drop_raster_bands
    assets = {}
    for key in bands:
        name, centre, fwhm, title = BANDS[key]
        a = {
            "href": str((scene_dir / f"{key}.tif").resolve()),
            "type": COG_TYPE,
            "title": title,
            "eo:bands": [{"name": key, "common_name": key, "description": title.split(" - ")[0],
                          "center_wavelength": centre / 1000.0,
                          "full_width_half_max": fwhm / 1000.0}],
            "gsd": 10,
            "proj:shape": [g.height, g.width],
            "proj:transform": list(g.transform(10.0))[:6],
            "raster:bands": [{"nodata": 0, "data_type": "uint16", "bits_per_sample": 15,
                              "spatial_resolution": 10, "scale": SCALE, "offset": s.metadata_offset}],
            "roles": ["data", "reflectance"],
        }
        if drop:
            del a["raster:bands"]
        assets[key] = a
    assets["scl"] = {
        "href": str((scene_dir / "scl.tif").resolve()),
        "type": COG_TYPE,
        "title": "Scene classification map (SCL)",
        "proj:shape": [g.height // 2, g.width // 2],
        "proj:transform": list(g.transform(20.0))[:6],
        "raster:bands": [{"nodata": 0, "data_type": "uint8", "spatial_resolution": 20}],
        "roles": ["data", "reflectance"],
    }
    if drop:
        del assets["scl"]["raster:bands"]
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": sc.item_id,
        "properties": props,
        "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in sc.footprint]]},
        "links": [],
        "assets": assets,
        "bbox": [min(lons), min(lats), max(lons), max(lats)],
        "stac_extensions": list(STAC_EXTENSIONS),
        "collection": spec.collection,
    }


def collection_dict(items: Sequence[Mapping], collection: str = COLLECTION) -> dict:
    """An Earth-Search-like collection document covering ``items`` (for a STAC API)."""
    bb = np.array([it["bbox"] for it in items], dtype=float)
    times = sorted(it["properties"]["datetime"] for it in items)
    return {
        "type": "Collection",
        "stac_version": "1.0.0",
        "id": collection,
        "title": "Sentinel-2 Level-2A (aopflow demo)",
        "description": "Generated Sentinel-2-like L2A scenes of the aopflow demo site, "
                       "Earth Search v1 conventions.",
        "license": "proprietary",
        "extent": {
            "spatial": {"bbox": [[float(bb[:, 0].min()), float(bb[:, 1].min()),
                                  float(bb[:, 2].max()), float(bb[:, 3].max())]]},
            "temporal": {"interval": [[times[0], times[-1]]]},
        },
        "links": [],
        "stac_extensions": [],
        "summaries": {"platform": sorted({it["properties"]["platform"] for it in items}),
                      "constellation": ["sentinel-2"], "instruments": ["msi"]},
    }


def demo_items(demo_dir: str | Path) -> list[dict]:
    """The items of a written demo (``items.json`` features)."""
    return json.loads((Path(demo_dir) / "items.json").read_text())["features"]
