"""Ten spectral indices on a full-size tile: what they add to the per-tile NDVI pass.

On a full-size .002 tile (1000 x 1000 x 426 int16, band-per-chunk), each job in a fresh
subprocess, every job once per round (median of ``--repeats`` rounds):

* ``h5py``: the h5py read of the whole cube, ``Reflectance_Data[()]`` (the reference);
* ``ndvi``: the NDVI job alone (2 bands), as before issue 23;
* ``pass``: the NDVI job with the indices' band extract (NDVI + the 18 band symbols of
  ``aopflow.indices.band_symbols`` in one read, ``band_symbols.tif`` written);
* ``pass_s2``: the same plus AOP in the Sentinel-2 bands (red, nir: nearest band and the SRFs
  of S2A and S2B), as with the Sentinel-2 stage on;
* ``indices``: the ten NEON indices' per-index work (``index_tile``: read the extract's bands,
  compute, write the GeoTIFF) one after another in one process, the sum of what the ten jobs
  compute (each job also pays an interpreter start, ``index_job``, reported apart);
* ``index_job``: one ``index_tile`` (EVI) in a fresh interpreter, start-up included.

Added wall time of the ten indices = (pass - ndvi) + indices; target (issue 23) <= 0.15x the
h5py read. Peak memory (VmHWM) per job.
Run: .venv/bin/python bench/bench_indices.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import PEAK_MB_SOURCE, full_tile, job_env

TILE_ID = "500000_4100000"

JOB = PEAK_MB_SOURCE + r"""
import json, sys, time
kind, h5, out = sys.argv[1], sys.argv[2], sys.argv[3]
t0 = time.perf_counter()
if kind == "h5py":
    import h5py
    with h5py.File(h5, "r") as f:
        cube = f[next(iter(f))]["Reflectance"]["Reflectance_Data"][()]
elif kind == "ndvi":
    from aopflow.stages.spectral import ndvi_tile
    ndvi_tile(h5, f"{out}/ndvi.tif", tile_id=TILE_ID)
elif kind == "pass":
    from aopflow.stages.spectral import ndvi_tile
    ndvi_tile(h5, f"{out}/ndvi.tif", tile_id=TILE_ID, index_bands_path=f"{out}/band_symbols.tif")
elif kind == "pass_s2":
    from aopflow.stages.spectral import ndvi_tile
    ndvi_tile(h5, f"{out}/ndvi.tif", tile_id=TILE_ID, index_bands_path=f"{out}/bs2.tif",
              s2_bands_path=f"{out}/s2_bands.tif", s2_assets=["red", "nir"])
elif kind in ("indices", "index_job"):
    from aopflow.indices import NEON_INDICES
    from aopflow.stages.indices import index_tile
    names = NEON_INDICES if kind == "indices" else ["EVI"]
    for n in names:
        index_tile(f"{out}/band_symbols.tif", f"{out}/index_{n}.tif", index=n,
                   constants={"L": 0.5} if n == "SAVI" else None)
print(json.dumps({"s": time.perf_counter() - t0, "peak_mb": peak_mb()}))
""".replace("TILE_ID", repr(TILE_ID))

JOBS = ["h5py", "ndvi", "pass", "pass_s2", "indices", "index_job"]


def run_job(kind: str, h5: Path, out: str, wall: bool = False) -> dict:
    import time

    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", JOB, kind, str(h5), out], capture_output=True,
                         text=True, env=job_env())
    if res.returncode:
        raise SystemExit(f"job {kind} failed:\n{res.stderr}")
    d = json.loads(res.stdout.strip().splitlines()[-1])
    d["process_s"] = time.perf_counter() - t0  # interpreter start and imports included
    return d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    h5 = full_tile("002")
    results = {k: [] for k in JOBS}
    with tempfile.TemporaryDirectory() as tmp:
        for rnd in range(args.repeats):
            for kind in JOBS:
                results[kind].append(run_job(kind, h5, tmp))
            print(f"  round {rnd + 1}: " + ", ".join(f"{k} {results[k][-1]['s']:.2f}" for k in JOBS),
                  flush=True)
    med = {k: statistics.median(r["s"] for r in v) for k, v in results.items()}
    peak = {k: max(r["peak_mb"] for r in v) for k, v in results.items()}
    ref = med["h5py"]
    added = med["pass"] - med["ndvi"] + med["indices"]
    per_round = [(p["s"] - n["s"] + i["s"]) / h["s"] for p, n, i, h in
                 zip(results["pass"], results["ndvi"], results["indices"], results["h5py"])]
    lines = [f"\n### {h5.name}\n", "| job | median s | x h5py read | peak MB |", "|---|---|---|---|"]
    labels = {"h5py": "h5py read of the cube (reference)", "ndvi": "ndvi_tile, NDVI alone",
              "pass": "ndvi_tile + the indices' band extract (18 symbols)",
              "pass_s2": "ndvi_tile + band extract + Sentinel-2 bands (red, nir; S2A/B SRFs)",
              "indices": "ten index_tile computations (one process)",
              "index_job": "one index_tile job in a fresh interpreter (EVI; start-up incl.: "
                           f"process {statistics.median(r['process_s'] for r in results['index_job']):.2f} s)"}
    for k in JOBS:
        lines.append(f"| {labels[k]} | {med[k]:.2f} | {med[k] / ref:.3f}x | {peak[k]:.0f} |")
    lines.append(f"\nadded by the ten indices ((pass - ndvi) + indices): {added:.2f} s = "
                 f"{added / ref:.3f}x the h5py read (per round: "
                 + " ".join(f"{r:.3f}" for r in per_round) + "); target <= 0.15x")
    load = Path("/proc/loadavg").read_text().split()[:3]
    lines.append(f"\nload average at the end (1/5/15 min): {' '.join(load)} on {os.cpu_count()} CPUs")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
