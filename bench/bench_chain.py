"""The per-tile spectral chain on one full-size tile (1000 x 1000 x 426) vs reading the cube once.

Chain = what the workflow runs per tile after the site endmembers exist: spectral_tile (read,
clean, FCLS unmix, SAM and SID scores, write), classify_tile for SAM and SID, ndvi_tile.
Each run is a fresh subprocess so its peak memory is measured per job: VmHWM (peak resident set
of the process image), not ru_maxrss, which Linux carries over from the forking parent (this
script, which holds sample pixels) across exec and so overstates a small job.
Targets: chain median <= 2x the read-once median; peak memory of one tile job <= 1.5 GB.
Run: .venv/bin/python bench/bench_chain.py [--revision 002|001] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from common import PEAK_MB_SOURCE, full_tile, run_job

CHAIN = PEAK_MB_SOURCE + r"""
import json, sys, time
from aopflow.stages.spectral import spectral_tile, classify_scores, ndvi_tile
h5, em, out, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
t0 = time.perf_counter()
o = spectral_tile(h5, em, tile_id="500000_4100000", abundance_path=f"{out}/a.tif", sam_path=f"{out}/s.tif",
                  sid_path=f"{out}/d.tif", threads=threads)
t1 = time.perf_counter()
classify_scores(o["sam"], f"{out}/sam.tif", thresholds=0.1, key="k")
classify_scores(o["sid"], f"{out}/sid.tif", thresholds=None, key="k")
ndvi_tile(h5, f"{out}/ndvi.tif")
t2 = time.perf_counter()
hwm = peak_mb()
print(json.dumps({"spectral_tile": t1 - t0, "chain": t2 - t0, "maxrss_mb": hwm}))
"""

READ = PEAK_MB_SOURCE + r"""
import json, sys, time
mode, h5 = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
if mode == "whole":
    import h5py
    with h5py.File(h5, "r") as f:
        site = list(f.keys())[0]
        cube = f[site]["Reflectance"]["Reflectance_Data"][()]
else:
    from aopflow.neon.reader import NeonTile
    with NeonTile(h5) as t:
        for _ in t.iter_blocks(range(t.meta.bands)):
            pass
hwm = peak_mb()
print(json.dumps({"read": time.perf_counter() - t0, "maxrss_mb": hwm}))
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--revision", default="002")
    ap.add_argument("--chunks", default="auto")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    h5 = full_tile(args.revision, args.chunks)
    from aopflow.stages.spectral import sample_tile, site_endmembers

    with tempfile.TemporaryDirectory() as tmp:
        s = sample_tile(h5, Path(tmp) / "s.npz", tile_id="500000_4100000", n_samples=20000)
        em = site_endmembers([s], Path(tmp) / "em.csv", method="nfindr", n=5)
        reads = [run_job(READ, "whole", h5) for _ in range(args.repeats)]
        blocks = [run_job(READ, "blocks", h5) for _ in range(args.repeats)]
        chains = [run_job(CHAIN, h5, em, tmp, args.threads) for _ in range(args.repeats)]
    med = lambda rs, k: statistics.median(r[k] for r in rs)  # noqa: E731
    read_whole, read_blocks = med(reads, "read"), med(blocks, "read")
    chain = med(chains, "chain")
    print(f"tile: {h5.name} (revision {args.revision}, chunks {args.chunks}), threads {args.threads}")
    print(f"read cube once, h5py [()] (whole):      median {read_whole:.2f} s  peak {med(reads, 'maxrss_mb'):.0f} MB")
    print(f"read cube once, aopflow blocks:         median {read_blocks:.2f} s  peak {med(blocks, 'maxrss_mb'):.0f} MB")
    print(f"spectral_tile (read+clean+unmix+SAM+SID+write): median {med(chains, 'spectral_tile'):.2f} s")
    print(f"whole chain (+ classify x2 + NDVI):     median {chain:.2f} s  {[round(c['chain'], 2) for c in chains]}")
    print(f"chain / read-once (h5py whole): {chain / read_whole:.2f}x (target <= 2x)")
    print(f"peak memory of the chain job: {max(c['maxrss_mb'] for c in chains):.0f} MB (target <= 1536 MB)")


if __name__ == "__main__":
    main()
