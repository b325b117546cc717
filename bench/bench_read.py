"""Per-tile reads with aopflow's chunk decoder vs h5py, and every per-tile job on top of them.

On full-size tiles (1000 x 1000 x 426 int16, gzip 3) of both layouts -- .002 band-per-chunk
(1000, 1000, 1) and .001 legacy (32, 63, 27) -- with 1 and 2 threads, in one run:

* whole-cube read: h5py ``Reflectance_Data[()]`` (the reference), aopflow ``iter_blocks`` on
  h5py's path (``chunk_decoder=False``, the reader before the decoder) and with the decoder;
* the per-tile spectral chain (spectral_tile: read, clean, FCLS unmix, SAM, SID, write; then
  classify x2 and NDVI), the RGB, NDVI, sampling and cleaned-reflectance jobs;
* the inflate libraries on the tile's own chunks (libdeflate via ``deflate``, ISA-L via
  ``isal`` if installed, zlib), single-threaded -- the measurement behind the choice.

Every job runs in a fresh subprocess (median of ``--repeats`` rounds; each round runs every job
once, so the reference and the jobs see the same machine) and reports its peak
memory (VmHWM) and CPU seconds (all threads). Ratios are to the h5py read of the same file.
Targets (issue 13): read <= 0.15x h5py on .002, <= 0.3x on .001; chain <= 0.35x; chain peak
memory <= 1.2 GB.
Run: .venv/bin/python bench/bench_read.py [--revisions 002 001] [--repeats 3] [--jobs chain ...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import full_tile, job_env

TILE_ID = "500000_4100000"

JOB = r"""
import json, resource, sys, time
kind, h5, threads, out, em = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
import numpy as np
from aopflow.neon.reader import NeonTile
from aopflow.stages.spectral import spectral_tile, classify_scores, ndvi_tile, sample_tile
from aopflow.stages.convert import rgb_to_geotiff, reflectance_to_geotiff
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

def peak_mb():
    # VmHWM, not ru_maxrss: ru_maxrss survives fork+exec, so a child would report the
    # parent's (cube-sized) peak.
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) for l in fh if l.startswith("VmHWM")) / 1024

c0, t0 = cpu(), time.perf_counter()
if kind == "h5py":
    import h5py
    with h5py.File(h5, "r") as f:
        cube = f[next(iter(f))]["Reflectance"]["Reflectance_Data"][()]
elif kind in ("blocks_h5py", "blocks"):
    with NeonTile(h5, threads=threads, chunk_decoder=kind == "blocks") as t:
        for _ in t.iter_blocks(range(t.meta.bands)):
            pass
elif kind == "chain":
    o = spectral_tile(h5, em, tile_id=TILE_ID, abundance_path=f"{out}/a.tif", sam_path=f"{out}/s.tif",
                      sid_path=f"{out}/d.tif", threads=threads)
    t1 = time.perf_counter()
    classify_scores(o["sam"], f"{out}/sam.tif", thresholds=0.1, key="k")
    classify_scores(o["sid"], f"{out}/sid.tif", thresholds=None, key="k")
    ndvi_tile(h5, f"{out}/ndvi.tif", threads=threads)
elif kind == "rgb":
    rgb_to_geotiff(h5, f"{out}/rgb.tif", tile_id=TILE_ID, threads=threads)
elif kind == "ndvi":
    ndvi_tile(h5, f"{out}/ndvi.tif", tile_id=TILE_ID, threads=threads)
elif kind == "sample":
    sample_tile(h5, f"{out}/s.npz", tile_id=TILE_ID, n_samples=2000, threads=threads)
elif kind == "reflectance":
    reflectance_to_geotiff(h5, f"{out}/r.tif", tile_id=TILE_ID, threads=threads)
t_end = time.perf_counter()
res = {"s": t_end - t0, "cpu": cpu() - c0, "maxrss_mb": peak_mb()}
if kind == "chain":
    res["spectral_tile"] = t1 - t0
print(json.dumps(res))
""".replace("TILE_ID", repr(TILE_ID))

#: (label, job kind, thread counts)
JOBS = [
    ("read: h5py [()]", "h5py", [1]),
    ("read: aopflow iter_blocks, h5py path", "blocks_h5py", [1]),
    ("read: aopflow iter_blocks, chunk decoder", "blocks", [1, 2]),
    ("chain (spectral_tile + classify x2 + NDVI)", "chain", [1, 2]),
    ("sample_tile job", "sample", [1, 2]),
    ("h5_to_rgb job", "rgb", [1, 2]),
    ("ndvi_tile job", "ndvi", [1, 2]),
]
# The h5_to_reflectance job ("reflectance" above) is left out of the default run: GDAL's write
# of a 370-band pixel-interleaved deflate GeoTIFF dwarfs its read (docs/performance.md).
if "--with-reflectance" in sys.argv:
    JOBS.append(("h5_to_reflectance job", "reflectance", [1, 2]))


def run_job(kind: str, h5: Path, threads: int, tmp: str, em: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", JOB, kind, str(h5), str(threads), tmp, str(em)],
                         capture_output=True, text=True, env=job_env())
    if out.returncode:
        raise SystemExit(f"job {kind} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def inflate_libraries(h5: Path, decoded_mb: float = 100.0) -> dict[str, float]:
    """Single-threaded seconds per decoded GB of the tile's first chunks (``decoded_mb`` of
    them: 48 full-band chunks of a .002 tile, ~900 small chunks of a .001 one), per library."""
    import zlib

    import deflate
    import h5py

    from aopflow.neon import chunks

    with h5py.File(h5, "r") as f:
        reader, _ = chunks.plan(f[next(iter(f))]["Reflectance"]["Reflectance_Data"])
    with reader:
        size = reader.chunk_nbytes
        n = max(1, int(decoded_mb * 2**20 // size))
        raws = [reader.raw(c) for c in list(reader.chunks.values())[:n]]
    libs = {"libdeflate (deflate)": lambda b: deflate.zlib_decompress(b, size), "zlib": zlib.decompress}
    try:
        from isal import isal_zlib

        libs["ISA-L (isal)"] = lambda b: isal_zlib.decompress(b, bufsize=size)
    except ImportError:
        pass
    res = {}
    for name, fn in libs.items():
        times = []
        for _ in range(3):
            t0 = time.process_time()
            for b in raws:
                fn(b)
            times.append(time.process_time() - t0)
        res[name] = statistics.median(times) / (len(raws) * size / 1e9)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--revisions", nargs="+", default=["002", "001"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--with-reflectance", action="store_true", help="also time h5_to_reflectance (slow: GDAL write)")
    ap.add_argument("--jobs", nargs="+", metavar="KIND", help="only these job kinds (the h5py reference always runs): "
                    + " ".join(kind for _, kind, _ in JOBS[1:]))
    args = ap.parse_args()
    from aopflow.stages.spectral import sample_tile, site_endmembers

    lines = []
    for rev in args.revisions:
        h5 = full_tile(rev)
        with tempfile.TemporaryDirectory() as tmp:
            s = sample_tile(h5, Path(tmp) / "s.npz", tile_id=TILE_ID, n_samples=20000, threads=2)
            em = site_endmembers([s], Path(tmp) / "em.csv", method="nfindr", n=5)
            libs = inflate_libraries(h5)
            todo = [(label, kind, th) for label, kind, ths in JOBS for th in ths
                    if not args.jobs or kind == "h5py" or kind in args.jobs]
            results = {(label, th): [] for label, _, th in todo}
            # Rounds: every job once per round, so a drift in the VM's speed hits the reference
            # and the jobs alike (the ratios are also taken round by round).
            for rnd in range(args.repeats):
                for label, kind, th in todo:
                    results[(label, th)].append(run_job(kind, h5, th, tmp, em))
                print(f"  {rev} round {rnd + 1}: " + ", ".join(
                    f"{kind}/{th} {results[(label, th)][-1]['s']:.2f}" for label, kind, th in todo), flush=True)
        refs = [r["s"] for r in results[("read: h5py [()]", 1)]]
        ref = statistics.median(refs)
        lines.append(f"\n### {h5.name} (revision {rev}, chunks {'(1000, 1000, 1)' if rev == '002' else '(32, 63, 27)'})\n")
        ref_cpu = statistics.median(r["cpu"] for r in results[("read: h5py [()]", 1)])
        lines.append("| job | threads | median s | x h5py read | per-round ratios | CPU s | CPU x h5py read | peak MB |")
        lines.append("|---|---|---|---|---|---|---|---|")
        for (label, th), runs in results.items():
            med = statistics.median(r["s"] for r in runs)
            c = statistics.median(r["cpu"] for r in runs)
            peak = max(r["maxrss_mb"] for r in runs)
            per_round = " ".join(f"{r['s'] / x:.2f}" for r, x in zip(runs, refs))
            lines.append(f"| {label} | {th} | {med:.2f} | {med / ref:.2f}x | {per_round} | {c:.2f} | {c / ref_cpu:.2f}x "
                         f"| {peak:.0f} |")
            if "spectral_tile" in runs[0]:
                st = statistics.median(r["spectral_tile"] for r in runs)
                lines.append(f"| of which spectral_tile | {th} | {st:.2f} | {st / ref:.2f}x | | | | |")
        lines.append("\ninflate, single thread, CPU seconds per decoded GB of this tile's chunks: "
                     + ", ".join(f"{k} {v:.2f}" for k, v in libs.items()))
    load = Path("/proc/loadavg").read_text().split()[:3]
    lines.append(f"\nload average at the end (1/5/15 min): {' '.join(load)} on {os.cpu_count()} CPUs")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
