"""Size and time of the publish stage for a 30-tile site (6 x 5 tiles of 1 km).

Writes a synthetic run folder with the layers of the default configuration (RGB, NDVI, five
abundance bands, SAM and SID classes, WQI, Sentinel-2 median NDVI and valid count, downscaled
NDVI/abundance/SAM at 50 and 100 m), each a COG of ``--px`` pixels on the long side (default
3000, i.e. 2 m pixels: the map reads overviews, so 1 m mosaics render the same), textured
like imagery: smooth fields at several scales plus 3 % pixel noise (which PNG cannot compress).
Then times write_catalog and write_site_map, each in a fresh interpreter (median of
``--repeats``; peak memory VmHWM), and reports the map's size against the budget
(publish.map_max_mb, 15 MB).
Run: .venv/bin/python bench/bench_publish.py [--px 3000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from affine import Affine
from scipy.ndimage import gaussian_filter, zoom

from aopflow.raster import write_cog
from common import PEAK_MB_SOURCE, run_job

#: One publish job in a fresh interpreter (its own peak memory, VmHWM): catalog or map.
JOB = PEAK_MB_SOURCE + r"""
import json, sys, time
from pathlib import Path
from aopflow.publish.sitemap import write_site_map
from aopflow.publish.stac import write_catalog
what, root, inputs = sys.argv[1], Path(sys.argv[2]), sys.argv[3].split(",")
t0 = time.perf_counter()
if what == "catalog":
    write_catalog(inputs=inputs, root=root, catalog=root / "stac/catalog.json", site="SITE",
                  year=2024, config={})
else:
    write_site_map(inputs=inputs, root=root, html_path=root / "map.html", site="SITE",
                   year=2024, id_column="plotID", tiles_csv=root / "tiles.csv")
print(json.dumps({"s": time.perf_counter() - t0, "peak_mb": peak_mb()}))
"""

EPSG, X0, Y0 = 32611, 500000.0, 4105000.0
W_M, H_M = 6000.0, 5000.0


def field(rng, shape, fine=0.03):
    """Imagery-like texture in 0..1: smooth structure at 3 scales plus pixel noise."""
    out = np.zeros(shape)
    for scale, amp in ((200, 0.5), (40, 0.3), (8, 0.2)):
        small = rng.standard_normal((max(2, shape[0] // scale), max(2, shape[1] // scale)))
        out += amp * zoom(gaussian_filter(small, 1), (shape[0] / small.shape[0],
                                                      shape[1] / small.shape[1]), order=1)
    out = (out - out.min()) / (out.max() - out.min())
    return np.clip(out + fine * rng.standard_normal(shape), 0, 1)


def make_site(root: Path, px: int, seed: int = 0) -> list[Path]:
    rng = np.random.default_rng(seed)
    res = W_M / px
    shape = (int(H_M / res), px)
    t = Affine(res, 0, X0, 0, -res, Y0)

    def cog(rel, data, nodata, resampling="average", transform=t, **kw):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        write_cog(p, data, crs=EPSG, transform=transform, nodata=nodata,
                  overview_resampling=resampling, **kw)
        return p

    out = []
    f = [field(rng, shape) for _ in range(6)]
    out.append(cog("mosaic/rgb.tif", np.stack([0.02 + 0.3 * x for x in f[:3]]).astype("float32"),
                   np.nan))
    ndvi = (0.1 + 0.8 * f[3]).astype("float32")
    out.append(cog("mosaic/ndvi.tif", ndvi, np.nan))
    ab = np.stack([field(rng, shape) for _ in range(5)])
    ab = (ab / ab.sum(0)).astype("float32")
    out.append(cog("mosaic/abundance.tif", ab, np.nan, band_names=[f"em{i}" for i in range(1, 6)]))
    for name in ("sam", "sid"):
        classes = (np.argmax(ab + 0.05 * rng.standard_normal(ab.shape), 0) + 1).astype("uint8")
        out.append(cog(f"mosaic/{name}.tif", classes, 255, "nearest"))
    out.append(cog("mosaic/wqi.tif", (1 + (f[4] > 0.5) + (f[4] > 0.8)).astype("uint8"), 0,
                   "nearest"))
    s2 = (W_M / 10) / shape[1]
    s2shape = (int(H_M / 10), int(W_M / 10))
    t10 = Affine(10, 0, X0, 0, -10, Y0)
    out.append(cog("s2/composite/ndvi_median.tif", field(rng, s2shape).astype("float32"), np.nan,
                   transform=t10))
    out.append(cog("s2/composite/valid_count.tif",
                   rng.integers(3, 12, s2shape).astype("uint16"), 0, transform=t10))
    for r in (50, 100):
        k = int(r / res)
        tr = Affine(r, 0, X0, 0, -r, Y0)
        for name, arr, nod, rs in (("ndvi", ndvi, np.nan, "average"), ("sam", None, 255, "nearest")):
            a = (ndvi[::k, ::k] if arr is not None else
                 (np.argmax(ab[:, ::k, ::k], 0) + 1).astype("uint8"))
            out.append(cog(f"downscale/{name}_{r}m.tif", a, nod, rs, transform=tr))
        out.append(cog(f"downscale/abundance_{r}m.tif", ab[:, ::k, ::k].copy(), np.nan,
                       transform=tr))
    tiles = [(X0 + i * 1000, Y0 - H_M + j * 1000) for i in range(6) for j in range(5)]
    pd.DataFrame({"tile": [f"{int(x)}_{int(y)}" for x, y in tiles], "epsg": EPSG,
                  "left": [x for x, _ in tiles], "bottom": [y for _, y in tiles],
                  "right": [x + 1000 for x, _ in tiles], "top": [y + 1000 for _, y in tiles]}
                 ).to_csv(root / "tiles.csv", index=False)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--px", type=int, default=3000)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "results/SITE/2024"
        t0 = time.perf_counter()
        inputs = make_site(root, a.px)
        print(f"synthetic 30-tile site: {len(inputs)} rasters, {a.px} px long side, "
              f"{sum(p.stat().st_size for p in inputs) / 2**20:.0f} MB "
              f"({time.perf_counter() - t0:.0f} s)")
        runs = {"catalog": [], "map": []}
        for _ in range(a.repeats):
            for what in runs:
                runs[what].append(run_job(JOB, what, root, ",".join(map(str, inputs))))
        size = (root / "map.html").stat().st_size / 2**20
        for what, r in runs.items():
            print(f"{what}: median {statistics.median(x['s'] for x in r):.2f} s, peak "
                  f"{max(x['peak_mb'] for x in r):.0f} MB")
        print(f"map.html: {size:.1f} MB (budget publish.map_max_mb = 15 MB)")


if __name__ == "__main__":
    main()
