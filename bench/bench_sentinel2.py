"""Benchmark the Sentinel-2 per-date job against the seed lesson's whole-band way.

Scenes: S2-DATA's full-size generated L2A scenes (``bench/s2_scenes.py``: a 10 x 10 km site at
10 m, 1000 x 1000 pixels, 8 dates, two of them from two scenes, red/nir 10980 x 10980 uint16
COGs and SCL 5490 x 5490), served from loopback by the test suite's COG server (uvicorn +
starlette StaticFiles with Range, ``tests/s2_servers.py``), read over HTTP.

For every date, in fresh subprocesses (wall time, and peak RSS from ``wait4`` of the child):

* ``aopflow``: :func:`aopflow.stages.sentinel2.process_date`, the per-date job's code (odc-stac
  onto the site grid, 2 dask threads, scale/offset per item, SCL mask, two COGs written);
* ``seed``: the lesson's way, for the date's first scene: ``rioxarray.open_rasterio`` of the
  whole red and nir bands with dask chunks (2048 x 2048), scale/offset applied, NDVI computed
  over the whole band, then clipped to the site (``rio.clip_box``), with the same 2 threads.

    python bench/bench_sentinel2.py [--dates N] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out" / "sentinel2"
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(HERE))

MASK = [0, 1, 3, 8, 9, 10]
THREADS = 2


def worker_aopflow(args) -> None:
    from aopflow.stages.sentinel2 import process_date

    import odc.stac  # noqa: F401  (imported by the job anyway; timed apart from the work)

    t0 = time.perf_counter()
    items = json.loads(Path(args.items).read_text())
    out = Path(args.out)
    process_date(args.grid, items, args.date, out / "reflectance.tif", out / "ndvi.tif", out / "summary.csv",
                 bands=["red", "nir"], mask_classes=MASK, threads=THREADS, max_connections=4)
    print(json.dumps({"work_s": time.perf_counter() - t0}))


def worker_seed(args) -> None:
    import dask
    import numpy as np
    import rioxarray

    from aopflow.sentinel2.grid import SiteGrid
    from aopflow.sentinel2.load import GDAL_HTTP_ENV

    os.environ.update(GDAL_HTTP_ENV)
    t0 = time.perf_counter()
    grid = SiteGrid.read(args.grid)
    item = json.loads(Path(args.items).read_text())[0]
    with dask.config.set(scheduler="threads", num_workers=THREADS):
        bands = {}
        for b in ("red", "nir"):
            rb = item["assets"][b]["raster:bands"][0]
            da = rioxarray.open_rasterio(item["assets"][b]["href"], chunks={"x": 2048, "y": 2048}).squeeze("band")
            bands[b] = da.where(da != 0) * rb["scale"] + rb["offset"]
        ndvi = ((bands["nir"] - bands["red"]) / (bands["nir"] + bands["red"])).compute()  # the whole band
        site = ndvi.rio.clip_box(*grid.bounds)
        mean = float(np.nanmean(site.values))
    print(json.dumps({"work_s": time.perf_counter() - t0, "shape": list(site.shape), "mean": mean}))


def run_child(mode: str, items: Path, grid: Path, date: str, out: Path) -> dict:
    """Wall seconds, the work's seconds (after imports), CPU seconds (user + system) and peak
    RSS (MiB) of one worker subprocess."""
    cmd = [sys.executable, __file__, "--worker", mode, "--items", str(items), "--grid", str(grid),
           "--date", date, "--out", str(out)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    out_, err = proc.stdout.read(), proc.stderr.read()
    if status != 0:
        raise RuntimeError(f"{mode} {date} failed:\n{out_.decode()[-2000:]}\n{err.decode()[-4000:]}")
    work = json.loads(out_.decode().strip().splitlines()[-1])["work_s"]
    return {"s": wall, "work_s": work, "cpu_s": ru.ru_utime + ru.ru_stime, "mb": ru.ru_maxrss / 1024}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker")
    ap.add_argument("--items")
    ap.add_argument("--grid")
    ap.add_argument("--date")
    ap.add_argument("--out")
    ap.add_argument("--dates", type=int, default=8, help="benchmark the first N dates")
    ap.add_argument("--seed-dates", type=int, default=8, help="run the whole-band way on the first N of them")
    args = ap.parse_args()
    if args.worker:
        {"aopflow": worker_aopflow, "seed": worker_seed}[args.worker](args)
        return

    import s2_scenes  # S2-DATA's full-size scene maker
    from s2_servers import start_server, stop_process, free_port

    from aopflow.demo.sentinel2 import rewrite_hrefs
    from aopflow.sentinel2.search import group_by_date, trim_item

    OUT.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    scenes = s2_scenes.bench_scenes(OUT / "scenes")
    print(f"scenes ready in {time.perf_counter() - t0:.0f} s: {scenes.items_json}", flush=True)
    grid_json = OUT / "grid.json"
    scenes.grid.write(grid_json)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    proc = start_server(["cog", "--dir", str(scenes.dir), "--port", str(port)], OUT / "cog.log", url + "_log")
    rows = []
    try:
        items = rewrite_hrefs(json.loads(Path(scenes.items_json).read_text())["features"], scenes.dir, url)
        lon, _ = scenes.grid.centre_lonlat()
        groups = group_by_date(items, lon)
        for date, its in list(groups.items())[: args.dates]:
            f = OUT / "items" / f"{date}.json"
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(json.dumps([trim_item(i, ["red", "nir", "scl"]) for i in its]))
            a = run_child("aopflow", f, grid_json, date, OUT / "dates" / date)
            row = {"date": date, "items": len(its), **{f"aopflow_{k}": v for k, v in a.items()}}
            if len(rows) < args.seed_dates:
                row.update({f"seed_{k}": v for k, v in run_child("seed", f, grid_json, date,
                                                                  OUT / "seed" / date).items()})
            rows.append(row)

            def fmt(m):
                return (f"{row[m + '_s']:5.1f} s (work {row[m + '_work_s']:5.1f} s, cpu {row[m + '_cpu_s']:5.1f} s) "
                        f"{row[m + '_mb']:5.0f} MiB") if m + "_s" in row else "not run"

            print(f"{date} ({len(its)} item(s)): aopflow {fmt('aopflow')} | seed (whole bands, first item) "
                  f"{fmt('seed')}", flush=True)
    finally:
        stop_process(proc)
    keys = [f"{m}_{k}" for m in ("aopflow", "seed") for k in ("s", "work_s", "cpu_s", "mb")]
    med = {k: statistics.median(r[k] for r in rows if k in r) for k in keys}
    summary = {"rows": rows, "median": med, "load_average": os.getloadavg(),
               "speedup": med["seed_s"] / med["aopflow_s"],
               "work_speedup": med["seed_work_s"] / med["aopflow_work_s"],
               "cpu_ratio": med["seed_cpu_s"] / med["aopflow_cpu_s"],
               "memory_ratio": med["seed_mb"] / med["aopflow_mb"],
               "max_aopflow_mb": max(r["aopflow_mb"] for r in rows)}
    (OUT / "results.json").write_text(json.dumps(summary, indent=1))
    print(f"median per date: aopflow {med['aopflow_s']:.1f} s (work {med['aopflow_work_s']:.1f} s, cpu "
          f"{med['aopflow_cpu_s']:.1f} s) / {med['aopflow_mb']:.0f} MiB; seed {med['seed_s']:.1f} s (work "
          f"{med['seed_work_s']:.1f} s, cpu {med['seed_cpu_s']:.1f} s) / {med['seed_mb']:.0f} MiB -> "
          f"{summary['speedup']:.1f}x faster ({summary['work_speedup']:.1f}x after imports, "
          f"{summary['cpu_ratio']:.1f}x less CPU), {summary['memory_ratio']:.1f}x less memory; max aopflow peak "
          f"{summary['max_aopflow_mb']:.0f} MiB; load average {summary['load_average'][0]:.1f}")


if __name__ == "__main__":
    main()
