"""Benchmark the Sentinel-2 products on the 8-date, 1000 x 1000 benchmark site.

Per-date inputs as the Sentinel-2 stage writes them (``s2/dates/{date}/ndvi.tif`` and
``reflectance.tif`` with red and nir: float32 COGs, NaN masked, about 25 % of each date
clouded): taken from S2-STAGE's bench output when given (``--dates-dir``), else generated here
(smooth fields with clouds, the same shapes and dtypes). Each step runs in a fresh subprocess so
its wall time and peak RSS (getrusage of the child) are its own:

* ``composite``: median NDVI, median reflectance (2 bands) and valid count over the 8 dates
  (:func:`aopflow.sentinel2.composite.median_composite`, windowed);
* ``timeseries``: NDVI statistics of 500 plots (discs of 20 m) on every date, written as CSV and
  GeoPackage (:func:`aopflow.stages.s2_products.s2_timeseries`, without the figure; with it).

The whole-array way for reference: ``numpy.nanmedian`` over the 8 dates stacked as float64
(what the composites must not do), in its own subprocess too.

    python bench/bench_s2_products.py [--repeats 3] [--dates-dir DIR] [--plots 500]
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import job_env

HERE = Path(__file__).resolve().parent
OUT = HERE / "out" / "s2_products"
DATES = ["2024-04-18", "2024-05-07", "2024-05-23", "2024-06-15", "2024-07-05", "2024-08-04",
         "2024-09-13", "2024-10-18"]
SIZE = 1000
T = (10.0, 0.0, 500000.0, 0.0, -10.0, 4110000.0)


def generate(root: Path, n_plots: int, dates_dir: Path) -> None:
    """Eight dates of 1000 x 1000 float32 NDVI/reflectance with clouds in ``dates_dir`` (unless
    there already), their date summary and the plots under ``root``."""
    import geopandas as gpd
    import numpy as np
    import shapely
    from affine import Affine

    from aopflow.raster import write_geotiff

    transform = Affine(*T)
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    base_red = (0.05 + 0.1 * (np.sin(7 * x) * np.cos(5 * y) + 1)).astype(np.float32)
    base_nir = (0.25 + 0.15 * (np.cos(6 * x + 1) * np.sin(4 * y) + 1)).astype(np.float32)
    rows = []
    found = sorted(p.parent.name for p in dates_dir.glob("*/ndvi.tif"))
    for k, d in enumerate(found if len(found) >= len(DATES) else DATES):
        folder = dates_dir / d
        if (folder / "ndvi.tif").exists():
            import rasterio

            with rasterio.open(folder / "ndvi.tif") as src:
                frac = float(np.isfinite(src.read(1)).mean())
            rows.append({"date": d, "valid_fraction": frac, "used": True})
            continue
        g = 0.6 + 0.4 * np.sin(np.pi * k / (len(DATES) - 1))
        folder.mkdir(parents=True, exist_ok=True)
        red = base_red + rng.normal(0, 0.005, base_red.shape).astype(np.float32)
        nir = g * base_nir + rng.normal(0, 0.005, base_nir.shape).astype(np.float32)
        cx, cy = rng.uniform(0, 1, 2)
        clouds = ((x - cx) ** 2 + (y - cy) ** 2) < 0.08
        red[clouds] = np.nan
        nir[clouds] = np.nan
        ndvi = ((nir - red) / (nir + red)).astype(np.float32)
        write_geotiff(folder / "reflectance.tif", np.stack([red, nir]), crs="EPSG:32611",
                      transform=transform, nodata=float("nan"), band_names=["red", "nir"])
        write_geotiff(folder / "ndvi.tif", ndvi, crs="EPSG:32611", transform=transform,
                      nodata=float("nan"))
        rows.append({"date": d, "valid_fraction": float(np.isfinite(ndvi).mean()), "used": True})
    summary = root / "date_summary.csv"
    root.mkdir(parents=True, exist_ok=True)
    if True:
        with open(summary, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=["date", "valid_fraction", "used"])
            w.writeheader()
            w.writerows(rows)
    plots = root / "plots.gpkg"
    if not plots.exists():
        import rasterio

        with rasterio.open(next(dates_dir.glob("*/ndvi.tif"))) as src:
            left, bottom, right, top = src.bounds
            crs = src.crs
        pts = np.column_stack([rng.uniform(left + 100, right - 100, n_plots),
                               rng.uniform(bottom + 100, top - 100, n_plots)])
        gdf = gpd.GeoDataFrame({"plotID": [f"P{i:04d}" for i in range(n_plots)]},
                               geometry=[shapely.Point(px, py).buffer(20, quad_segs=16)
                                         for px, py in pts], crs=crs)
        gdf.to_file(plots, driver="GPKG")


STEPS = {
    "baseline (interpreter + imports)": """
import aopflow.stages.s2_products, geopandas, matplotlib.figure
""",
    "composite": """
from aopflow.stages.s2_products import s2_composite
s2_composite(S, ndvi, refl, ndvi_out=O / "ndvi_median.tif",
             reflectance_out=O / "reflectance_median.tif", count_out=O / "valid_count.tif")
""",
    "composite+figure": """
from aopflow.stages.s2_products import s2_composite
s2_composite(S, ndvi, refl, ndvi_out=O / "ndvi_median.tif",
             reflectance_out=O / "reflectance_median.tif", count_out=O / "valid_count.tif",
             figure_png=O / "composite.png")
""",
    "timeseries": """
from aopflow.sentinel2.timeseries import ndvi_timeseries, write_timeseries
from aopflow.sentinel2.composite import date_of_path
from aopflow.zonal import read_plots
plots = read_plots(R / "plots.gpkg", id_column="plotID", target_crs=rasterio.open(ndvi[0]).crs)
table = ndvi_timeseries(plots, {date_of_path(p): p for p in ndvi}, id_column="plotID",
                        stats=["min", "max"], percentiles=[10, 90])
write_timeseries(table, O / "ts.csv", O / "ts.gpkg")
""",
    "timeseries+figure": """
from aopflow.stages.s2_products import s2_timeseries
s2_timeseries(S, ndvi, R / "plots.gpkg", csv_path=O / "ts.csv",
              gpkg_path=O / "ts.gpkg", png_path=O / "ts.png", stats=["min", "max"],
              percentiles=[10, 90])
""",
    "whole-array nanmedian (float64)": """
import numpy as np, rasterio, warnings
stack = np.stack([rasterio.open(p).read(1).astype(np.float64) for p in ndvi])
with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)
    med = np.nanmedian(stack, axis=0)
""",
}

PRELUDE = """
import sys, time, resource, json
from pathlib import Path
sys.path.insert(0, {src!r})
R, O, D = Path({root!r}), Path({out!r}), Path({dates!r})
S = R / "date_summary.csv"
O.mkdir(parents=True, exist_ok=True)
ndvi = sorted(str(p) for p in D.glob("*/ndvi.tif"))
refl = sorted(str(p) for p in D.glob("*/reflectance.tif"))
# Imports before the clock (the baseline step measures them alone).
import numpy, rasterio, geopandas, matplotlib.figure, aopflow.stages.s2_products
t0 = time.perf_counter()
"""
EPILOGUE = """
print(json.dumps({"wall": time.perf_counter() - t0,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_step(name: str, root: Path, dates_dir: Path) -> dict:
    code = PRELUDE.format(src=str(HERE.parent / "src"), root=str(root), dates=str(dates_dir),
                          out=str(OUT / "results")) + STEPS[name] + EPILOGUE
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, env=job_env())
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--plots", type=int, default=500)
    ap.add_argument("--dates-dir", type=Path, default=None,
                    help="a folder of {date}/ndvi.tif + reflectance.tif (e.g. S2-STAGE's "
                         "bench/out/sentinel2/dates); default: generated under bench/out/")
    args = ap.parse_args()
    root = OUT / ("site" if args.dates_dir is None else "site_" + args.dates_dir.parent.name)
    dates_dir = args.dates_dir or root / "dates"
    sys.path.insert(0, str(HERE.parent / "src"))
    t0 = time.perf_counter()
    generate(root, args.plots, dates_dir)
    n = len(list(dates_dir.glob("*/ndvi.tif")))
    print(f"inputs ready in {time.perf_counter() - t0:.1f} s: {n} dates in {dates_dir}",
          flush=True)
    print(f"{'step':34s} {'wall median (s)':>16s} {'runs':>22s} {'peak RSS (MiB)':>15s}")
    for name in STEPS:
        res = [run_step(name, root, dates_dir) for _ in range(args.repeats)]
        walls = [r["wall"] for r in res]
        print(f"{name:34s} {statistics.median(walls):16.2f} "
              f"{' '.join(f'{w:.2f}' for w in walls):>22s} {max(r['peak_mb'] for r in res):15.0f}",
              flush=True)
    print(f"(bench process peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB)")


if __name__ == "__main__":
    main()
