"""RGB conversion of one full-size tile vs the tutorial approach (whole cube, then 3 bands).

Prints the median of each and the ratio. Target: >= 5x faster than the tutorial approach.
Run: .venv/bin/python bench/bench_rgb.py [--revision 002|001] [--repeats 5]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import h5py
import numpy as np

from common import full_tile, median_time

from aopflow.stages.convert import rgb_to_geotiff


def tutorial_rgb(path: Path) -> np.ndarray:
    """NEON tutorial (aop_h5refl2array + stack_rgb): read the whole cube, take bands 58/34/19."""
    with h5py.File(path, "r") as f:
        site = list(f.keys())[0]
        cube = f[site]["Reflectance"]["Reflectance_Data"][()]
    return np.stack([cube[:, :, b - 1] for b in (58, 34, 19)], axis=2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--revision", default="002")
    ap.add_argument("--chunks", default="auto")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    path = full_tile(args.revision, args.chunks)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rgb.tif"
        ours, ours_all = median_time(lambda: rgb_to_geotiff(path, out), args.repeats)
        tut, tut_all = median_time(lambda: tutorial_rgb(path), max(3, args.repeats // 2))
    print(f"tile: {path.name} (revision {args.revision}, chunks {args.chunks})")
    print(f"aopflow rgb_to_geotiff (read 3 bands + write GeoTIFF): median {ours:.3f} s  {[round(t, 3) for t in ours_all]}")
    print(f"tutorial (read whole cube, take 3 bands, no write):   median {tut:.3f} s  {[round(t, 3) for t in tut_all]}")
    print(f"speed-up: {tut / ours:.1f}x (target >= 5x)")


if __name__ == "__main__":
    main()
