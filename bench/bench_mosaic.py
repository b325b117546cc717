"""Benchmark the site mosaic: aopflow's window copy against ``rasterio.merge.merge``.

A 30-tile site (a 6 x 6 grid of 1 km tiles with the six corner-most cells missing, as an
irregular flight box) of full-size per-tile products as the spectral stage writes them
(1000 x 1000 at 1 m, float32, NaN no-data, a no-data flight edge; DEFLATE with the
floating-point predictor, ``aopflow.raster.write_geotiff``):

* ``ndvi``: one band;
* ``abundance``: five bands summing to one (an abundance-like product).

Approaches, each run in a fresh interpreter (``common.run_job``) so its wall time and peak
resident memory (VmHWM) are its own; imports happen before the clock:

* ``aopflow mosaic -> COG``: :func:`aopflow.stages.mosaic.mosaic`, as the workflow runs it
  (assemble a tiled GeoTIFF, then GDAL's COG driver);
* ``aopflow assemble``: the same with ``cog=False`` (the part ``rasterio.merge`` would replace);
* ``rasterio.merge -> GeoTIFF``: ``rasterio.merge.merge(paths, dst_path=...)`` with the same
  creation options as aopflow's assembled file (its default ``mem_limit`` of 64 MB chunks);
* ``rasterio.merge -> COG``: that, then the same COG rewrite (what a replacement would run);
* ``rasterio.merge in memory``: the returned array (the whole mosaic in memory), for reference.

    python bench/bench_mosaic.py [--repeats 3] [--products ndvi abundance]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from common import OUT, PEAK_MB_SOURCE, run_job

ROOT = OUT / "mosaic"
GRID = 6  # tiles per side of the site's bounding box
PIXELS = 1000  # pixels per tile side (1 m)
MISSING = {(0, 0), (0, 1), (1, 0), (5, 5), (5, 4), (4, 5)}  # (column, row) cells with no tile
PRODUCTS = {"ndvi": 1, "abundance": 5}
ORIGIN = (500000.0, 4106000.0)  # upper-left corner of the site (UTM 11N)


def tiles(product: str) -> list[Path]:
    """The site's 30 tiles of ``product``, generated once under bench/out/mosaic/."""
    import numpy as np
    from affine import Affine

    from aopflow.raster import write_geotiff

    folder = ROOT / product
    cells = [(c, r) for r in range(GRID) for c in range(GRID) if (c, r) not in MISSING]
    paths = [folder / f"{500000 + 1000 * c}_{4105000 - 1000 * r}_{product}.tif" for c, r in cells]
    if all(p.exists() for p in paths):
        return paths
    t0 = time.perf_counter()
    bands = PRODUCTS[product]
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:PIXELS, 0:PIXELS].astype(np.float32) / PIXELS
    for (c, r), path in zip(cells, paths):
        # Smooth fields (site-wide frequencies) plus sensor-like noise; an abundance-like
        # product is their softmax (non-negative, summing to one).
        gx, gy = c + x, r + y
        fields = np.stack([np.sin((1.3 + 0.4 * b) * gx + b) * np.cos((0.9 + 0.3 * b) * gy - b)
                           for b in range(bands)]).astype(np.float32)
        fields += rng.normal(0, 0.05, fields.shape).astype(np.float32)
        if product == "ndvi":
            data = np.clip(0.45 + 0.4 * fields, -1, 1)
        else:
            e = np.exp(2 * fields)
            data = e / e.sum(axis=0, keepdims=True)
        # The flight's no-data edge: a diagonal band across the site's upper-right corner.
        data[:, (gx - gy) > GRID - 1.5] = np.nan
        write_geotiff(path, data.astype(np.float32), crs=32611,
                      transform=Affine(1.0, 0, ORIGIN[0] + 1000 * c, 0, -1.0, ORIGIN[1] - 1000 * r),
                      nodata=float("nan"), band_names=[f"b{b + 1}" for b in range(bands)])
    print(f"generated {len(paths)} {product} tiles in {time.perf_counter() - t0:.1f} s", flush=True)
    return paths


SRC = Path(__file__).resolve().parents[1] / "src"
PRELUDE = PEAK_MB_SOURCE + f"import sys\nsys.path.insert(0, {str(SRC)!r})\n" + """
import json, time
from pathlib import Path
import numpy as np, rasterio, rasterio.merge
from aopflow.raster import GTIFF_OPTS, copy_as_cog
from aopflow.stages.mosaic import mosaic
listing, out = Path(sys.argv[1]), Path(sys.argv[2])
paths = listing.read_text().split()
out.unlink(missing_ok=True)
ASSEMBLE = {**GTIFF_OPTS, "compress": "zstd"}  # aopflow's assembled file's creation options
t0 = time.perf_counter()
"""

APPROACHES = {
    "baseline (imports)": "pass",
    "aopflow mosaic -> COG": "mosaic(paths, out, resampling='average')",
    "aopflow assemble": "mosaic(paths, out, cog=False)",
    "rasterio.merge -> GeoTIFF": "rasterio.merge.merge(paths, dst_path=out, dst_kwds=ASSEMBLE)",
    "rasterio.merge -> COG": """
tmp = out.with_name(out.name + '.assemble.tif')
rasterio.merge.merge(paths, dst_path=tmp, dst_kwds=ASSEMBLE)
copy_as_cog(tmp, out, overview_resampling='average')
tmp.unlink()
""",
    "rasterio.merge in memory": "arr, _ = rasterio.merge.merge(paths)",
}

EPILOGUE = """
print(json.dumps({"wall": time.perf_counter() - t0, "peak_mb": peak_mb()}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--products", nargs="+", default=list(PRODUCTS), choices=list(PRODUCTS))
    args = ap.parse_args()
    for product in args.products:
        paths = tiles(product)
        listing = ROOT / f"{product}.txt"
        listing.write_text("\n".join(map(str, paths)))
        out = ROOT / f"{product}_mosaic.tif"
        print(f"\n{product}: {len(paths)} tiles of {PIXELS} x {PIXELS} x {PRODUCTS[product]} "
              f"float32 -> {GRID * PIXELS} x {GRID * PIXELS}; medians of {args.repeats}, "
              "rounds interleaved")
        print(f"{'approach':28s} {'wall median (s)':>16s} {'runs':>22s} {'peak RSS (MiB)':>15s}")
        runs: dict[str, list[dict]] = {name: [] for name in APPROACHES}
        # Interleaved rounds: every approach once per round, so a drift of the shared machine
        # hits them all alike.
        for _ in range(args.repeats):
            for name, code in APPROACHES.items():
                runs[name].append(run_job(
                    PRELUDE + code + EPILOGUE, listing, out))
        ref = statistics.median(r["wall"] for r in runs["aopflow mosaic -> COG"])
        for name, res in runs.items():
            walls = [r["wall"] for r in res]
            med = statistics.median(walls)
            print(f"{name:28s} {med:16.2f} {' '.join(f'{w:.2f}' for w in walls):>22s} "
                  f"{max(r['peak_mb'] for r in res):15.0f}   {med / ref:5.2f}x", flush=True)
        out.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
