"""The sampling job (sample_tile) on one full-size tile (1000 x 1000 x 426) vs reading its cube once.

sample_tile reads the kept bands once and, on the same blocks, draws the random sample
(endmembers.sample_size) and finds the candidate-pure pixels (endmembers.candidates skewers).
The reference is the reader's block iteration over the same kept bands, doing nothing else.
Each run is a fresh subprocess (cold Python, its own peak memory); the variants are
interleaved run by run so that load on a shared machine hits them alike.
Target: sample_tile (with candidates) median <= 1.1 x the read median. Wall and CPU time are
both reported: on a shared machine the process CPU time is the steadier of the two.
Run: .venv/bin/python bench/bench_sampling.py [--revision 002|001] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile

from common import PEAK_MB_SOURCE, full_tile, run_job

READ = PEAK_MB_SOURCE + r"""
import json, resource, sys, time
from aopflow.clean import CleanSpec, tile_good_bands
from aopflow.neon.reader import NeonTile
t0, c0 = time.perf_counter(), time.process_time()
with NeonTile(sys.argv[1]) as t:
    for _ in t.iter_blocks(tile_good_bands(t.meta, CleanSpec())):
        pass
print(json.dumps({"time": time.perf_counter() - t0, "cpu": time.process_time() - c0,
                  "maxrss_mb": peak_mb()}))
"""

SAMPLE = PEAK_MB_SOURCE + r"""
import json, resource, sys, time
import numpy as np
from aopflow.stages.spectral import sample_tile
h5, out, n_samples, n_candidates = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
t0, c0 = time.perf_counter(), time.process_time()
sample_tile(h5, out, tile_id="500000_4100000", n_samples=n_samples, n_candidates=n_candidates)
dt, cpu = time.perf_counter() - t0, time.process_time() - c0
with np.load(out) as z:
    k, c = z["pixels"].shape[0], z["candidates"].shape[0]
print(json.dumps({"time": dt, "cpu": cpu, "maxrss_mb": peak_mb(),
                  "sampled": k, "candidates": c}))
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--revision", default="002")
    ap.add_argument("--chunks", default="auto")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sample-size", type=int, default=2000)
    ap.add_argument("--candidates", type=int, default=200)
    args = ap.parse_args()
    h5 = full_tile(args.revision, args.chunks)
    runs = {"read": [], "sample_random_only": [], "sample_with_candidates": []}
    with tempfile.TemporaryDirectory() as tmp:
        run_job(READ, h5)  # warm the page cache once, so no variant pays the first disk read
        for _ in range(args.repeats):
            runs["read"].append(run_job(READ, h5))
            runs["sample_random_only"].append(run_job(SAMPLE, h5, f"{tmp}/r.npz", args.sample_size, 0))
            runs["sample_with_candidates"].append(run_job(SAMPLE, h5, f"{tmp}/c.npz", args.sample_size, args.candidates))
    med = {k: statistics.median(r["time"] for r in v) for k, v in runs.items()}
    cpu = {k: statistics.median(r["cpu"] for r in v) for k, v in runs.items()}
    report = {
        "tile": h5.name, "revision": args.revision, "chunks": args.chunks, "repeats": args.repeats,
        "median_s": {k: round(v, 3) for k, v in med.items()},
        "times_s": {k: [round(r["time"], 3) for r in v] for k, v in runs.items()},
        "ratio_to_read": {k: round(v / med["read"], 3) for k, v in med.items() if k != "read"},
        # CPU seconds of the process: on a shared machine far less noisy than wall time.
        "median_cpu_s": {k: round(v, 3) for k, v in cpu.items()},
        "cpu_ratio_to_read": {k: round(v / cpu["read"], 3) for k, v in cpu.items() if k != "read"},
        "peak_rss_mb": {k: round(max(r["maxrss_mb"] for r in v)) for k, v in runs.items()},
        "candidates_found": runs["sample_with_candidates"][0]["candidates"],
        "target": "sample_with_candidates <= 1.1 x read",
    }
    print(json.dumps(report, indent=2))
    wall = report["ratio_to_read"]["sample_with_candidates"]
    cpu_r = report["cpu_ratio_to_read"]["sample_with_candidates"]
    print("PASS" if wall <= 1.1 else "FAIL", f"sampling job = {wall:.3f} x one read (wall), {cpu_r:.3f} x (CPU)")


if __name__ == "__main__":
    main()
