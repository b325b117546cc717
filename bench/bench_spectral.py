"""Benchmark aopflow.spectral against pysptools 0.15.0 and at tile scale.

    python bench/bench_spectral.py [--quick]

Prints medians of several repeats (the machine is shared, so single timings are noisy):

* FCLS seconds per pixel, ours (from G, b; the X @ E^T product timed separately) vs
  pysptools' cvxopt-per-pixel FCLS on a subset, and the ratio (target >= 100x);
* N-FINDR on the same 30,000 x 362 sample, ours vs pysptools, and the ratio (target >= 20x),
  plus ATGP;
* ours on 1,000,000 pixels x 362 bands x n = 5: FCLS, SAM, SID, with X @ E^T (and SAM/SID)
  computed in blocks of 100,000 pixels;
* peak traced memory (tracemalloc) of each tile-scale stage beyond its input, and peak RSS.

pysptools is imported through tests/pysptools_compat.py (NumPy 2 / SciPy shims).

BLAS runs single-threaded unless OPENBLAS_NUM_THREADS is set: pysptools' loops are
single-threaded, one Snakemake job with ``threads: 1`` gets the same (Snakemake exports
OPENBLAS_NUM_THREADS = threads), and on a shared 2-core machine multi-threaded OpenBLAS
timings swing by 5x with the other processes' load.
"""

from __future__ import annotations

import os

# Must happen before NumPy loads OpenBLAS.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", os.environ["OPENBLAS_NUM_THREADS"])

import argparse
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import pysptools_compat as psp

from aopflow import spectral

N_BANDS = 362
BLOCK = 100_000


def smooth_spectra(rng: np.random.Generator, n: int, n_bands: int = N_BANDS) -> np.ndarray:
    wl = np.linspace(400.0, 2500.0, n_bands)
    out = np.empty((n, n_bands))
    for i in range(n):
        c, w, h = rng.uniform(400, 2500, 4), rng.uniform(100, 600, 4), rng.uniform(-0.2, 0.3, 4)
        out[i] = 0.3 + sum(hk * np.exp(-0.5 * ((wl - ck) / wk) ** 2) for ck, wk, hk in zip(c, w, h))
    return out


def mixtures(seed: int, E: np.ndarray, n_pixels: int, alpha: float = 0.5) -> np.ndarray:
    """(n_pixels, B) float32 Dirichlet mixtures of E plus 0.005 noise, built in blocks."""
    rng = np.random.default_rng(seed)
    X = np.empty((n_pixels, E.shape[1]), dtype=np.float32)
    for s in range(0, n_pixels, BLOCK):
        m = min(BLOCK, n_pixels - s)
        A = rng.dirichlet(np.full(E.shape[0], alpha), size=m)
        X[s : s + m] = A @ E + rng.normal(0.0, 0.005, (m, E.shape[1]))
    return X


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def traced_peak_mb(fn) -> float:
    """Peak memory traced while fn runs, beyond what was allocated before, in MB."""
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return (peak - base) / 1e6


def blockwise_products(X: np.ndarray, E: np.ndarray) -> np.ndarray:
    """b = X @ E^T (N, n) float32 in blocks of 100,000 pixels."""
    E32 = E.astype(np.float32)
    b = np.empty((X.shape[0], E.shape[0]), dtype=np.float32)
    for s in range(0, X.shape[0], BLOCK):
        b[s : s + BLOCK] = X[s : s + BLOCK] @ E32.T
    return b


def blockwise(fn, X: np.ndarray, E: np.ndarray) -> np.ndarray:
    out = np.empty((X.shape[0], E.shape[0]), dtype=np.float32)
    for s in range(0, X.shape[0], BLOCK):
        out[s : s + BLOCK] = fn(X[s : s + BLOCK], E)
    return out


def bench_nfindr(rng: np.random.Generator, n: int, n_pix: int, reps_ref: int) -> None:
    """N-FINDR, ours vs pysptools, on one (n_pix, 362) sample of n-endmember mixtures."""
    E = smooth_spectra(rng, n)
    S = mixtures(2 + n, E, n_pix, alpha=1.0)
    t_ref = median_time(lambda: psp.NFINDR(S, n), reps_ref)
    t_ours = median_time(lambda: spectral.nfindr(S, n), 5)
    ref_idx = psp.NFINDR(S, n)[2]
    _, idx = spectral.nfindr(S, n)
    Y = psp.exact_pca_transform(S, n - 1).astype(np.float64)
    v_ref, v_ours = spectral.simplex_volume(Y[ref_idx]), spectral.simplex_volume(Y[idx])
    print(
        f"N-FINDR n={n} on {n_pix} x {N_BANDS}: pysptools {t_ref:7.2f} s (median of "
        f"{reps_ref}), ours {t_ours:6.3f} s, ratio {t_ref / t_ours:5.0f}x (target >= 20x); "
        f"volume ours/pysptools = {v_ours / v_ref:.6f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    args = parser.parse_args()
    q = args.quick
    rng = np.random.default_rng(0)
    print(
        f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}, load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )

    # ---- FCLS: ours vs pysptools per pixel -------------------------------------------
    n = 5
    E = smooth_spectra(rng, n)
    X = mixtures(1, E, 100_000, alpha=0.3)
    n_ref = 300 if q else 2_000
    t_ref = median_time(lambda: psp.FCLS(X[:n_ref], E), 1 if q else 3) / n_ref
    G, b = spectral.gram_products(X, E)
    t_prod = median_time(lambda: spectral.gram_products(X, E), 5) / X.shape[0]
    t_ours = median_time(lambda: spectral.fcls_from_gram(G, b), 5) / X.shape[0]
    print(
        f"FCLS n={n} B={N_BANDS}: pysptools {t_ref * 1e6:9.1f} us/pixel (median of "
        f"{'1' if q else '3'} runs on {n_ref} pixels)"
    )
    print(
        f"  ours from (G, b) {t_ours * 1e6:9.3f} us/pixel (100,000 pixels)   "
        f"ratio {t_ref / t_ours:7.0f}x  (target >= 100x)"
    )
    print(
        f"  ours incl. float64 X@E^T {(t_ours + t_prod) * 1e6:6.3f} us/pixel   "
        f"ratio {t_ref / (t_ours + t_prod):7.0f}x"
    )

    # ---- N-FINDR and ATGP on one sample ------------------------------------------------
    for n in (6, 8):
        bench_nfindr(rng, n, 10_000 if q else 30_000, 1 if q else 3)
    n, n_pix = 6, 5_000 if q else 20_000
    E = smooth_spectra(rng, n)
    S = mixtures(20, E, n_pix)
    t_ref = median_time(lambda: psp.ATGP(S, n), 1)
    t_ours = median_time(lambda: spectral.atgp(S, n), 5)
    same = np.array_equal(psp.ATGP(S, n)[1], spectral.atgp(S, n)[1])
    print(
        f"ATGP n={n} on {n_pix} x {N_BANDS}: pysptools {t_ref:7.2f} s (1 run), ours "
        f"{t_ours:6.3f} s, ratio {t_ref / t_ours:5.0f}x; same indices: {same}"
    )

    # ---- tile scale -------------------------------------------------------------------
    n, n_pix = 5, 200_000 if q else 1_000_000
    E = smooth_spectra(rng, n)
    X = mixtures(3, E, n_pix, alpha=0.3)
    reps = 3
    t_prod = median_time(lambda: blockwise_products(X, E), reps)
    b = blockwise_products(X, E)
    G = E @ E.T
    t_fcls = median_time(lambda: spectral.fcls_from_gram(G, b), reps)
    t_sam = median_time(lambda: blockwise(spectral.sam, X, E), reps)
    t_sid = median_time(lambda: blockwise(spectral.sid, X, E), reps)
    t_cls = median_time(lambda: spectral.classify(blockwise(spectral.sam, X, E), 0.1), 1)
    print(f"Tile scale, {n_pix:,} pixels x {N_BANDS} bands x n={n} (median of {reps}):")
    print(f"  X @ E^T float32 in {BLOCK:,}-pixel blocks {t_prod:6.2f} s")
    print(
        f"  FCLS from (G, b)                         {t_fcls:6.2f} s "
        f"({t_fcls / n_pix * 1e6:.2f} us/pixel)"
    )
    print(f"  SAM  (blocks, float64 cosines)           {t_sam:6.2f} s")
    print(f"  SID  (blocks, float64)                   {t_sid:6.2f} s")
    print(f"  SAM + classify (1 run)                   {t_cls:6.2f} s")
    print(
        f"  input X: {X.nbytes / 1e6:.0f} MB; peak traced memory beyond it: "
        f"FCLS {traced_peak_mb(lambda: spectral.fcls_from_gram(G, b)):.0f} MB, "
        f"SAM {traced_peak_mb(lambda: blockwise(spectral.sam, X, E)):.0f} MB, "
        f"SID {traced_peak_mb(lambda: blockwise(spectral.sid, X, E)):.0f} MB"
    )
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    print(f"peak RSS of this process: {rss_mb:.0f} MB")


if __name__ == "__main__":
    main()
