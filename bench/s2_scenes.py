"""Full-size Sentinel-2-like L2A scenes for the issue-14 benchmark (cached under bench/out/).

A 10 x 10 km site at 10 m (1000 x 1000 pixels, EPSG:32611, x 500000-510000, y 4120000-4130000)
is covered by generated full-size MGRS tiles: ``red`` and ``nir`` 10980 x 10980 uint16 COGs
(deflate, 1024 x 1024 blocks and overviews, like Earth Search's), ``scl`` 5490 x 5490 uint8,
8 dates in 2024 (baseline 05.10/05.11, offset -0.1), two of them from two scenes: tile 11SNB
(holding the whole site near its west edge) on every date, plus 11SMB (which overlaps the site
but for its east 240 m) on two dates.

The pixels are simple vectorised patterns, not the demo's material model: a smooth
"vegetation" field on a 60 m lattice (sums of sinusoids), repeated to 10 m, scaled by a
seasonal greenness, plus sensor noise from one reused noise block; clouds (SCL 8/9, bright in
the bands) and shadows (3) from a thresholded smooth field per date on the same 60 m lattice;
a no-data swath edge on the 11SMB scenes. Items follow Earth Search v1 like the demo's
(:mod:`aopflow.demo.sentinel2`), with local absolute asset hrefs.

    from s2_scenes import bench_scenes
    scenes = bench_scenes(OUT / "scenes")   # generated once (a few minutes), then reused
    scenes.dir, scenes.items_json, scenes.grid  # grid: aopflow.sentinel2.grid.SiteGrid

Run alone to (re)generate: ``python bench/s2_scenes.py [--force]``. Cost, measured here:
3 CPU-minutes (8 min wall on the shared 2 cores), peak RSS 0.8 GB, 3.3 GiB of COGs (red/nir
~180 MB each, like real L2A bands); an interrupted run resumes (finished COGs are kept).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

import rasterio  # noqa: E402
from rasterio.windows import Window  # noqa: E402

from aopflow.demo.aop import SiteSpec  # noqa: E402
from aopflow.demo.sentinel2 import S2DemoSpec, S2Scene, boa_offset, greenness  # noqa: E402
from aopflow.demo.sentinel2.grid import SceneGrid  # noqa: E402
from aopflow.demo.sentinel2.items import item_dict  # noqa: E402
from aopflow.demo.sentinel2.scene import GeneratedScene, footprint  # noqa: E402
from aopflow.io import atomic_path  # noqa: E402
from aopflow.raster import copy_as_cog  # noqa: E402

VERSION = 1  # bump when the scenes change: a cache of another version is regenerated
EPSG = 32611
SITE_BOUNDS = (500000.0, 4120000.0, 510000.0, 4130000.0)
RESOLUTION = 10.0
N = 10980  # 10 m pixels per tile side
COARSE = 6  # pattern lattice: 60 m
TILES = {"SNB": 499960.0, "SMB": 399960.0}  # tile -> upper-left x; both have top y 4200000
TOP = 4200000.0
DATES = [  # (date, cloud fraction, two scenes)
    ("2024-04-20", 0.05, False), ("2024-05-15", 0.18, False), ("2024-06-09", 0.02, True),
    ("2024-07-04", 0.10, False), ("2024-07-29", 0.25, False), ("2024-08-23", 0.04, True),
    ("2024-09-17", 0.12, False), ("2024-10-12", 0.08, False),
]


@dataclass
class BenchScenes:
    dir: Path
    items_json: Path
    grid: object  # aopflow.sentinel2.grid.SiteGrid


def site_grid():
    from aopflow.sentinel2.grid import SiteGrid

    return SiteGrid.from_bounds(f"EPSG:{EPSG}", SITE_BOUNDS, RESOLUTION)


def _lattice(x0: float) -> tuple[np.ndarray, np.ndarray]:
    """Map coordinates of the 60 m lattice centres of a tile (1830 x 1830)."""
    n = N // COARSE
    xs = x0 + (np.arange(n) + 0.5) * 10.0 * COARSE
    ys = TOP - (np.arange(n) + 0.5) * 10.0 * COARSE
    return np.meshgrid(xs, ys)


def _vegetation(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """A smooth 0..1 field of map coordinates (the same landscape in overlapping tiles)."""
    v = (np.sin(X / 1700.0) * np.cos(Y / 2300.0) + 0.6 * np.sin((X + Y) / 900.0)
         + 0.4 * np.cos((X - 2 * Y) / 3100.0))
    return ((v + 2.0) / 4.0).clip(0, 1).astype(np.float32)


def _clouds(X: np.ndarray, Y: np.ndarray, date: dt.date, fraction: float) -> np.ndarray:
    """SCL cloud codes on the lattice: 9/8 clouds (top ``fraction``), 3 shadows, 0 clear."""
    k = date.toordinal()
    f = (np.sin(X / 1300.0 + k) * np.cos(Y / 1100.0 - 0.7 * k)
         + 0.7 * np.sin((X - Y) / 700.0 + 0.3 * k))
    codes = np.zeros(f.shape, np.uint8)
    if fraction <= 0:
        return codes
    t, t_high = np.quantile(f, [1 - fraction, 1 - fraction / 2])
    cloud = f > t
    shadow = np.zeros_like(cloud)
    d = 8  # 480 m north-west
    shadow[:-d, :-d] = cloud[d:, d:]
    codes[shadow & ~cloud] = 3
    codes[cloud] = 8
    codes[f > t_high] = 9
    return codes


def _write_cog(path: Path, height: int, width: int, transform, dtype: str, blocks, resampling: str):
    """Write row blocks (``blocks`` yields (row0, array)) to a tiled GTiff, then copy to a COG.

    An existing ``path`` is kept (an interrupted generation resumes where it stopped).
    """
    if path.exists():
        return
    build = path.with_name(f".{path.name}.build.tif")
    with rasterio.open(build, "w", driver="GTiff", width=width, height=height, count=1, dtype=dtype,
                       crs=f"EPSG:{EPSG}", transform=transform, nodata=0, tiled=True,
                       blockxsize=1024, blockysize=1024) as dst:
        for r0, arr in blocks:
            dst.write(arr, 1, window=Window(0, r0, width, arr.shape[0]))
    try:
        with atomic_path(path) as tmp:
            # Deflate level 1: a third of the default level's time, files ~10 % larger.
            copy_as_cog(build, tmp, overview_resampling=resampling, level=1, predictor=2,
                        blocksize=1024, BIGTIFF="NO")
    finally:
        build.unlink(missing_ok=True)


def _scene(out: Path, tile: str, date: str, fraction: float, k: int, noise: np.ndarray) -> dict:
    day = dt.date.fromisoformat(date)
    x0 = TILES[tile]
    X, Y = _lattice(x0)
    veg = _vegetation(X, Y)
    codes = _clouds(X, Y, day, fraction)
    # SCL at 20 m: the lattice repeated x3; no-data swath edge on the 11SMB tile (east side).
    base = np.where(veg > 0.5, 4, 5).astype(np.uint8)
    scl_c = np.where(codes > 0, codes, base)
    if tile == "SMB":
        cols = np.arange(scl_c.shape[1])
        rows = np.arange(scl_c.shape[0])[:, None]
        scl_c[cols[None, :] > 1800 - rows // 20] = 0  # slanted: 11SMB holds the west ~40 % of the site
    scl = np.repeat(np.repeat(scl_c, 3, 0), 3, 1)
    baseline = "05.10" if day < dt.date(2024, 7, 23) else "05.11"
    offset = boa_offset(baseline)
    g = float(greenness(day.timetuple().tm_yday))
    refl = {"red": (0.03 + 0.12 * (1 - g * veg)).astype(np.float32),
            "nir": (0.15 + 0.35 * g * veg).astype(np.float32)}
    cloud_c = (codes == 8) | (codes == 9)
    shadow_c = codes == 3
    nodata_c = scl_c == 0
    sat = "S2A" if k % 2 == 0 else "S2B"
    item_id = f"{sat}_11{tile[0]}{tile[1:]}_{day:%Y%m%d}_0_L2A"
    d = out / item_id
    d.mkdir(parents=True, exist_ok=True)
    block = noise.shape[0]
    for b, coarse in refl.items():
        r = coarse.copy()
        r[cloud_c] = 0.45 if b == "red" else 0.5
        r[shadow_c] *= 0.35
        dn_c = np.rint((r - offset) / 1e-4).astype(np.int32)
        dn_c[nodata_c] = 0

        def blocks(dn_c=dn_c, b=b):
            for r0 in range(0, N, block):
                c0 = r0 // COARSE
                arr = np.repeat(np.repeat(dn_c[c0:c0 + block // COARSE], COARSE, 0), COARSE, 1)
                nz = arr > 0
                arr = arr + np.roll(noise, (r0 // block) * 37 + (b == "nir") * 11, axis=1)
                arr[~nz] = 0
                yield r0, np.clip(arr, 0, 65535).astype(np.uint16)

        _write_cog(d / f"{b}.tif", N, N, rasterio.Affine(10, 0, x0, 0, -10, TOP), "uint16", blocks(),
                   "average")
    _write_cog(d / "scl.tif", N // 2, N // 2, rasterio.Affine(20, 0, x0, 0, -20, TOP), "uint8",
               [(0, scl)], "nearest")
    grid = SceneGrid(EPSG, x0, TOP, N, N)
    s = S2Scene(date, "sentinel-2a" if sat == "S2A" else "sentinel-2b", swath=("none", 0.0),
                baseline=baseline)
    from pyproj import Transformer

    fp = footprint(SiteSpec(), grid, s, Transformer.from_crs(EPSG, 4326, always_xy=True))
    sc = GeneratedScene(s, item_id, grid, {}, scl, offset, (11, "S", tile[1:]), fp)
    return item_dict(S2DemoSpec(), sc, d, bands=("red", "nir"))


def bench_scenes(out_dir: str | Path, force: bool = False) -> BenchScenes:
    """The benchmark scenes under ``out_dir`` (generated unless a complete cache is there)."""
    out = Path(out_dir)
    items_json = out / "items.json"
    if not force and items_json.exists():
        doc = json.loads(items_json.read_text())
        if doc.get("aopflow:bench_version") == VERSION and all(
            Path(a["href"]).exists() for f in doc["features"] for a in f["assets"].values()
        ):
            return BenchScenes(out, items_json, site_grid())
    if force and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    for part in out.rglob(".*.tif*"):  # leftovers of an interrupted run
        part.unlink()
    rng = np.random.default_rng(14)
    noise = rng.integers(-40, 41, size=(1098, N), dtype=np.int32)  # one block, reused (rolled)
    items = []
    t0 = time.perf_counter()
    for k, (date, fraction, two) in enumerate(DATES):
        for tile in ("SNB", "SMB") if two else ("SNB",):
            items.append(_scene(out, tile, date, fraction, k, noise))
            print(f"  {items[-1]['id']} ({time.perf_counter() - t0:.0f} s)", flush=True)
    doc = {"type": "FeatureCollection", "aopflow:bench_version": VERSION, "features": items}
    with atomic_path(items_json) as tmp:
        tmp.write_text(json.dumps(doc, indent=1))
    return BenchScenes(out, items_json, site_grid())


def main() -> None:
    ap = argparse.ArgumentParser(description="Generate the Sentinel-2 benchmark scenes.")
    ap.add_argument("--out", default=str(HERE / "out" / "sentinel2" / "scenes"))
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args()
    t0 = time.perf_counter()
    s = bench_scenes(a.out, force=a.force)
    size = sum(p.stat().st_size for p in Path(a.out).rglob("*.tif"))
    print(f"{s.items_json}: {len(json.loads(s.items_json.read_text())['features'])} items, "
          f"{size / 2**30:.2f} GiB, {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
