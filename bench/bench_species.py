"""The species stage's per-tile jobs on one full-size tile (1000 x 1000 x 426) vs reading the cube.

The tile is the demo generator's with its tree crowns planted (``species.source: demo`` at 1 m
pixels: NEON's plot and crown sizes), with the field tables of its plots. Stems and the model are
made once in this process; then, each in a fresh subprocess (peak memory per job = VmHWM):

* ``species_training``: read the tile once in blocks, the used crowns' pixels cleaned -> .npz;
* ``species_predict``: read the tile once in blocks, clean, predict_proba (random forest,
  PCA 30) of every valid pixel, write class + probability GeoTIFFs;
* the reference: the h5py ``[()]`` read of the whole cube, in the same run.

Targets: prediction median <= 1.0x the read; peak memory of each job < 1.2 GB.
Run: .venv/bin/python bench/bench_species.py [--repeats 3] [--threads 2] [--classifier random_forest]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from common import FULL_SPEC, OUT, PEAK_MB_SOURCE, run_job

from aopflow.demo.aop import SiteSpec, tile_file_name, write_tile
from aopflow.demo.species import write_field_tables

TRAIN = PEAK_MB_SOURCE + r"""
import json, sys, time
from aopflow.stages.species import species_training
h5, stems, out, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
t0 = time.perf_counter()
species_training(h5, stems, out, tile_id=sys.argv[5], threads=threads)
print(json.dumps({"time": time.perf_counter() - t0, "maxrss_mb": peak_mb()}))
"""

PREDICT = PEAK_MB_SOURCE + r"""
import json, sys, time
from aopflow.stages.species import species_predict
h5, model, out, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
t0 = time.perf_counter()
species_predict(h5, model, species_path=f"{out}/species.tif", probability_path=f"{out}/p.tif",
                tile_id=sys.argv[5], threads=threads)
print(json.dumps({"time": time.perf_counter() - t0, "maxrss_mb": peak_mb()}))
"""

READ = PEAK_MB_SOURCE + r"""
import json, sys, time
import h5py
t0 = time.perf_counter()
with h5py.File(sys.argv[1], "r") as f:
    cube = f[list(f.keys())[0]]["Reflectance"]["Reflectance_Data"][()]
print(json.dumps({"time": time.perf_counter() - t0, "maxrss_mb": peak_mb()}))
"""


def species_tile(spec: SiteSpec) -> tuple[Path, dict]:
    """The full-size tile with planted crowns and its field tables, generated once (bench/out/)."""
    folder = OUT / f"full_species_{spec.revision}"
    tid = spec.tile_ids()[0]
    path = folder / tile_file_name(spec, tid)
    if not path.exists():
        t0 = time.perf_counter()
        write_tile(spec, tid, folder, folder / "truth")
        print(f"generated {path.name} ({path.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - t0:.1f} s",
              flush=True)
    return path, write_field_tables(spec, folder / "vst", n_plots=40)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--revision", default="002")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--classifier", default="random_forest")
    args = ap.parse_args()
    spec = SiteSpec(**{**FULL_SPEC.__dict__, "revision": args.revision, "trees": True})
    tid = spec.tile_ids()[0]
    h5, files = species_tile(spec)
    from aopflow.stages.species import species_model, species_stems

    species = {"growth_forms": ["single bole tree", "multi-bole tree", "small tree"], "min_height_m": 3,
               "canopy_positions": ["Full sun", "Partially shaded", "Open grown"], "years": None,
               "crown": {"radius": "measured", "fixed_radius_m": 1.5, "shrink": 0.6},
               "min_individuals": 10, "rare_taxa": "other", "classifier": args.classifier,
               "features": {"bands": "cleaned", "pca": 30}, "cv": {"folds": 5, "seed": 0}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        stems = species_stems(str(files["mapping"]), str(files["individual"]), files["points"], [h5],
                              stems_csv=tmp / "stems.csv", stems_gpkg=tmp / "stems.gpkg", species=species,
                              aop_year=spec.year)
        reads, trains, preds = [], [], []
        for _ in range(args.repeats):  # interleaved: the machine's load hits all three alike
            reads.append(run_job(READ, h5))
            trains.append(run_job(TRAIN, h5, tmp / "stems.csv", tmp / "train.npz", args.threads, tid))
            if len(trains) == 1:
                t0 = time.perf_counter()
                species_model([tmp / "train.npz"], tmp / "stems.csv", model_path=tmp / "model.joblib",
                              metrics_csv=tmp / "cv.csv", confusion_csv=tmp / "cm.csv",
                              classes_csv=tmp / "classes.csv", species=species, threads=args.threads)
                model_s = time.perf_counter() - t0
            preds.append(run_job(PREDICT, h5, tmp / "model.joblib", tmp, args.threads, tid))
    med = lambda rs, k: statistics.median(r[k] for r in rs)  # noqa: E731
    read = med(reads, "time")
    print(f"tile: {h5.name} ({spec.pixels} x {spec.pixels} x {spec.bands}, revision {args.revision}), "
          f"{int(stems['used'].sum())} used stems, threads {args.threads}, classifier {args.classifier}")
    print(f"read cube once, h5py [()]:  median {read:.2f} s  peak {med(reads, 'maxrss_mb'):.0f} MB  "
          f"{[round(r['time'], 2) for r in reads]}")
    print(f"species_training:           median {med(trains, 'time'):.2f} s  peak {med(trains, 'maxrss_mb'):.0f} MB  "
          f"({med(trains, 'time') / read:.2f}x the read)")
    print(f"species_model (CV x2 + fit, in-process, once): {model_s:.1f} s")
    print(f"species_predict:            median {med(preds, 'time'):.2f} s  peak {med(preds, 'maxrss_mb'):.0f} MB  "
          f"({med(preds, 'time') / read:.2f}x the read; target <= 1.0x, peak < 1200 MB)  "
          f"{[round(r['time'], 2) for r in preds]}")


if __name__ == "__main__":
    main()
