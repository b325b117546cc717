"""Benchmark aopflow.zonal against rasterstats (and exactextract for exact mode).

Scenario of the brief: 2,000 plots (discs of radius 20 m, as read_plots buffers plot centres)
on a 4,000 x 4,000 float32 raster with 1 m pixels and scattered nodata/NaN; statistics count,
min, max, mean, median, std, p90. Timings are medians of several runs; peak memory is the
tracemalloc peak of one extra run (Python and NumPy allocations; GDAL's own buffers are not
counted). Results are compared with rasterstats so a fast but wrong run cannot pass unnoticed.

    python bench/bench_zonal.py [--repeats 5] [--rs-repeats 3] [--plots 2000] [--size 4000]
"""

from __future__ import annotations

import argparse
import logging
import resource
import statistics
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from affine import Affine

from aopflow.zonal import BUFFER_QUAD_SEGS, zonal_stats_array, zonal_stats_file

STATS = ["count", "min", "max", "mean", "median", "std"]
RS_STATS = STATS + ["percentile_90"]
NODATA = -9999.0
EPSG = "EPSG:32611"


def _time(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def _peak_mb(fn):
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def _rasterstats(*args, **kwargs):
    from rasterstats import zonal_stats

    # rasterstats uses affine's deprecated `*` operator: silence that here only.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        return zonal_stats(*args, **kwargs)


def _max_rel_diff(mine, ref):
    """Largest relative difference per statistic between two lists of result dicts."""
    worst = {}
    for a, b in zip(mine, ref):
        for name in STATS + ["p90"]:
            x = a[name]
            y = b["percentile_90" if name == "p90" else name]
            if y is None or x is None:
                if (x is None) != (y is None) and not (name == "count" and x == y == 0):
                    worst[name] = float("inf")
                continue
            worst[name] = max(worst.get(name, 0.0), abs(x - y) / max(1.0, abs(y)))
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5, help="runs of aopflow per case")
    ap.add_argument("--rs-repeats", type=int, default=3, help="runs of rasterstats per case")
    ap.add_argument("--plots", type=int, default=2000)
    ap.add_argument("--size", type=int, default=4000)
    ap.add_argument("--no-memory", action="store_true", help="skip the tracemalloc runs")
    ap.add_argument("--no-exact", action="store_true", help="skip exact mode vs exactextract")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)

    rng = np.random.default_rng(2024)
    n = args.size
    transform = Affine(1.0, 0.0, 500000.0, 0.0, -1.0, 4100000.0 + n)
    chm = rng.gamma(2.0, 6.0, (n, n)).astype(np.float32)
    chm[rng.random((n, n)) < 0.03] = NODATA
    chm[rng.random((n, n)) < 0.01] = np.nan
    cols, rows = rng.uniform(0, n, args.plots), rng.uniform(0, n, args.plots)
    xs, ys = transform * (cols, rows)
    geoms = shapely.buffer(shapely.points(xs, ys), 20.0, quad_segs=BUFFER_QUAD_SEGS)
    gdf = gpd.GeoDataFrame({"plotID": [f"P{i:04d}" for i in range(args.plots)]},
                           geometry=geoms, crs=EPSG)
    print(f"{args.plots} plots (r = 20 m) on a {n} x {n} float32 raster; stats "
          f"{', '.join(STATS)}, p90")

    with tempfile.TemporaryDirectory() as tmp:
        tif = Path(tmp) / "chm.tif"
        with rasterio.open(tif, "w", driver="GTiff", width=n, height=n, count=1,
                           dtype="float32", crs=EPSG, transform=transform, nodata=NODATA,
                           tiled=True, blockxsize=256, blockysize=256,
                           compress="deflate") as dst:
            dst.write(chm, 1)

        geom_list = list(geoms)
        cases = {
            "array": (
                lambda: _rasterstats(geom_list, chm, affine=transform, nodata=NODATA,
                                     stats=RS_STATS),
                lambda: zonal_stats_array(geoms, chm, transform, nodata=NODATA, stats=STATS,
                                          percentiles=[90]),
            ),
            "GeoTIFF": (
                lambda: _rasterstats(geom_list, str(tif), stats=RS_STATS),
                lambda: zonal_stats_file(gdf, tif, stats=STATS, percentiles=[90]),
            ),
        }
        print(f"\n{'case':<10}{'rasterstats s':>15}{'aopflow s':>12}{'speed-up':>10}"
              f"{'rs peak MB':>12}{'aop peak MB':>13}  max rel. diff")
        for case, (ref_fn, our_fn) in cases.items():
            t_ref, ref = _time(ref_fn, args.rs_repeats)
            t_our, ours = _time(our_fn, args.repeats)
            if case == "GeoTIFF":
                ours = ours[STATS + ["p90"]].to_dict("records")
                ours = [{k: (None if isinstance(v, float) and np.isnan(v) else v)
                         for k, v in r.items()} for r in ours]
            diff = _max_rel_diff(ours, ref)
            m_ref = m_our = float("nan")
            if not args.no_memory:
                m_ref, m_our = _peak_mb(ref_fn), _peak_mb(our_fn)
            print(f"{case:<10}{t_ref:>15.3f}{t_our:>12.3f}{t_ref / t_our:>9.1f}x"
                  f"{m_ref:>12.1f}{m_our:>13.1f}  {max(diff.values()):.1e}")

        if not args.no_exact:
            from exactextract import exact_extract

            ops = ["count", "min", "max", "mean", "median", "stdev", "quantile(q=0.9)"]

            def ref_fn():
                return exact_extract(str(tif), gdf, ops, output="pandas")

            def our_fn():
                return zonal_stats_file(gdf, tif, stats=STATS, percentiles=[90], exact=True)

            t_ref, ref = _time(ref_fn, args.rs_repeats)
            t_our, ours = _time(our_fn, args.repeats)
            a = ours[["mean", "p90"]].to_numpy(float)
            b = ref[["mean", "quantile_90"]].to_numpy(float)
            ok = np.isfinite(b)
            diff = np.max(np.abs(a[ok] - b[ok]) / np.maximum(1, np.abs(b[ok])))
            m_ref = m_our = float("nan")
            if not args.no_memory:
                m_ref, m_our = _peak_mb(ref_fn), _peak_mb(our_fn)
            print(f"{'exact':<10}{t_ref:>15.3f}{t_our:>12.3f}{t_ref / t_our:>9.1f}x"
                  f"{m_ref:>12.1f}{m_our:>13.1f}  {diff:.1e}   (reference: exactextract)")

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nprocess max RSS {rss:.0f} MB (includes the {chm.nbytes / 2**20:.0f} MB raster "
          f"held for the array case)")


if __name__ == "__main__":
    main()
