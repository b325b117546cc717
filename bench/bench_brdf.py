"""The BRDF correction's cost: the per-tile chain on one full-size .001 tile (1000 x 1000 x 426)
with and without the correction, against the h5py read of the cube in the same run; and the
site-wide fit of a 30-tile site's samples.

Chain = spectral_tile (read, clean, FCLS, SAM, SID, write), classify_tile x2, ndvi_tile, as
bench/bench_chain.py; with the correction, spectral_tile and ndvi_tile read through
``aopflow.brdf.apply`` (the tile's geometry read once, every block corrected in its digital
numbers), the per-pixel terms loaded from the tile's terms file as in the workflow (written
by the sampling job from its geometry read), and, for comparison, computed from the geometry
in each job. The sampling job is timed with and without writing the terms file (its extra
cost). Coefficients are fitted on the tile's own samples. Each run is a fresh subprocess
(peak memory = VmHWM of the job). The fit: the tile's BRDF sample (``brdf.sample_size`` 5000
pixels) written as 30 tiles' samples, fitted as ``brdf_fit`` does (one job, 1 thread plus
BLAS). Targets: the correction adds <= 25 % to the chain's wall time; the 30-tile fit < 60 s.
Run: .venv/bin/python bench/bench_brdf.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from common import FULL_SPEC, OUT, PEAK_MB_SOURCE, run_job

from aopflow.demo.aop import SiteSpec, tile_file_name, write_tile

CHAIN = PEAK_MB_SOURCE + r"""
import json, sys, time
from aopflow.stages.spectral import spectral_tile, classify_scores, ndvi_tile
h5, em, out, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
brdf = None if sys.argv[5] == "-" else sys.argv[5:]
t0 = time.perf_counter()
o = spectral_tile(h5, em, tile_id="500000_4100000", abundance_path=f"{out}/a.tif", sam_path=f"{out}/s.tif",
                  sid_path=f"{out}/d.tif", threads=threads, brdf=brdf)
t1 = time.perf_counter()
classify_scores(o["sam"], f"{out}/sam.tif", thresholds=0.1, key="k")
classify_scores(o["sid"], f"{out}/sid.tif", thresholds=None, key="k")
ndvi_tile(h5, f"{out}/ndvi.tif", brdf=brdf)
t2 = time.perf_counter()
import resource
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"spectral_tile": t1 - t0, "chain": t2 - t0, "cpu": ru.ru_utime + ru.ru_stime, "maxrss_mb": peak_mb()}))
"""

READ = PEAK_MB_SOURCE + r"""
import json, sys, time
import h5py
t0 = time.perf_counter()
with h5py.File(sys.argv[1], "r") as f:
    cube = f[list(f.keys())[0]]["Reflectance"]["Reflectance_Data"][()]
print(json.dumps({"read": time.perf_counter() - t0, "maxrss_mb": peak_mb()}))
"""

SAMPLE = PEAK_MB_SOURCE + r"""
import json, sys, time
from aopflow.stages.spectral import sample_tile
h5, out, terms = sys.argv[1], sys.argv[2], sys.argv[3]
t0 = time.perf_counter()
sample_tile(h5, f"{out}/sb.npz", tile_id="500000_4100000", n_samples=2000, brdf_samples=5000,
            brdf_terms_path=None if terms == "-" else f"{out}/tb.npz")
print(json.dumps({"sample": time.perf_counter() - t0, "maxrss_mb": peak_mb()}))
"""

FIT = PEAK_MB_SOURCE + r"""
import json, sys, time
from aopflow.stages.brdf import brdf_fit
paths, out = sys.argv[3:], sys.argv[1]
t0 = time.perf_counter()
brdf_fit(paths, f"{out}/c30.json", f"{out}/c30.png", min_samples=2000)
print(json.dumps({"fit": time.perf_counter() - t0, "maxrss_mb": peak_mb()}))
"""


def full_001_tile() -> Path:
    """A full-size .001 tile with flight lines (no truth cube), cached under bench/out/."""
    spec = SiteSpec(**{**FULL_SPEC.__dict__, "revision": "001"})
    tid = spec.tile_ids()[0]
    folder = OUT / "full_001_brdf"
    path = folder / tile_file_name(spec, tid)
    if not path.exists():
        t0 = time.perf_counter()
        write_tile(spec, tid, folder, None)
        print(f"generated {path.name} ({path.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - t0:.1f} s",
              flush=True)
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    h5 = full_001_tile()
    from aopflow.stages.brdf import brdf_fit
    from aopflow.stages.spectral import sample_tile, site_endmembers

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        s = sample_tile(h5, tmp / "s.npz", tile_id="500000_4100000", n_samples=20000, brdf_samples=5000,
                        brdf_terms_path=tmp / "terms.npz")
        coeffs = brdf_fit([s], tmp / "c.json", tmp / "c.png", min_samples=250)
        em = site_endmembers([s], tmp / "em.csv", method="nfindr", n=5, brdf=coeffs)
        samples30 = []
        for i in range(30):
            samples30.append(tmp / f"s{i}.npz")
            shutil.copy(s, samples30[-1])
        reads, plain, corrected, by_geometry, fits, samples, samples_terms = [], [], [], [], [], [], []
        for _ in range(args.repeats):  # interleaved, so drifts of the shared VM hit all alike
            reads.append(run_job(READ, h5))
            plain.append(run_job(CHAIN, h5, em, tmp, args.threads, "-"))
            corrected.append(run_job(CHAIN, h5, em, tmp, args.threads, coeffs, tmp / "terms.npz"))
            by_geometry.append(run_job(CHAIN, h5, em, tmp, args.threads, coeffs))
            samples.append(run_job(SAMPLE, h5, tmp, "-"))
            samples_terms.append(run_job(SAMPLE, h5, tmp, "terms"))
        for _ in range(args.repeats):
            fits.append(run_job(FIT, tmp, "-", *samples30))
    med = lambda rs, k: statistics.median(r[k] for r in rs)  # noqa: E731
    read, off, on = med(reads, "read"), med(plain, "chain"), med(corrected, "chain")
    print(f"tile: {h5.name} (revision 001, flight lines), threads {args.threads}, repeats {args.repeats}")
    print(f"h5py read of the cube [()]:        median {read:.2f} s  peak {med(reads, 'maxrss_mb'):.0f} MB")
    print(f"chain without correction:          median {off:.2f} s  {[round(c['chain'], 2) for c in plain]}  "
          f"peak {med(plain, 'maxrss_mb'):.0f} MB")
    print(f"chain with BRDF/topo correction:   median {on:.2f} s  {[round(c['chain'], 2) for c in corrected]}  "
          f"peak {med(corrected, 'maxrss_mb'):.0f} MB")
    geo = med(by_geometry, "chain")
    print(f"  terms from the geometry per job:  median {geo:.2f} s  {[round(c['chain'], 2) for c in by_geometry]}  "
          f"peak {med(by_geometry, 'maxrss_mb'):.0f} MB (+{100 * (geo / off - 1):.1f} %)")
    s0, s1 = med(samples, "sample"), med(samples_terms, "sample")
    print(f"sampling job (BRDF sample on): median {s0:.2f} s without the terms file, {s1:.2f} s writing it "
          f"(+{s1 - s0:.2f} s); peak {med(samples, 'maxrss_mb'):.0f} / {med(samples_terms, 'maxrss_mb'):.0f} MB")
    st_off, st_on = med(plain, "spectral_tile"), med(corrected, "spectral_tile")
    print(f"spectral_tile alone: median {st_off:.2f} s without, {st_on:.2f} s with (+{100 * (st_on / st_off - 1):.1f} %)")
    paired = statistics.median(c["chain"] / p["chain"] for c, p in zip(corrected, plain))
    paired_geo = statistics.median(c["chain"] / p["chain"] for c, p in zip(by_geometry, plain))
    cpu_off, cpu_on, cpu_geo = med(plain, "cpu"), med(corrected, "cpu"), med(by_geometry, "cpu")
    print(f"paired (same round) ratios, median: {paired:.3f} with the terms file, {paired_geo:.3f} from the geometry; "
          f"process CPU (imports included) {cpu_off:.2f} s without, {cpu_on:.2f} s with (+{cpu_on - cpu_off:.2f} s), "
          f"{cpu_geo:.2f} s from the geometry (+{cpu_geo - cpu_off:.2f} s)")
    print(f"correction adds {100 * (on / off - 1):.1f} % to the chain (target <= 25 %); "
          f"chain / h5py read: {off / read:.2f}x without, {on / read:.2f}x with")
    print(f"site fit, 30 tiles x 5000 samples: median {med(fits, 'fit'):.2f} s "
          f"{[round(f['fit'], 2) for f in fits]}  peak {med(fits, 'maxrss_mb'):.0f} MB (target < 60 s)")


if __name__ == "__main__":
    main()
