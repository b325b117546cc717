"""AOP versus Sentinel-2 on the demo site, where both come from the same generated materials.

What the generators imply (see aopflow.sentinel2.compare's docstring): the AOP NDVI uses the
narrow bands nearest 660 and 860 nm of the material spectra; the Sentinel-2 NDVI the same
spectra averaged over the B04 and B08 responses, with the vegetation spectrum on the
Sentinel-2 date mixed with dry vegetation by the greenness curve (0.978 on 2024-06-15). On pure
materials that maps AOP NDVI to about 0.9 x itself (vegetation 0.848 -> 0.796, soil 0.125 ->
0.112, water -0.545 -> -0.477): slope about 0.9, intercept about 0, bias about -0.1 x the mean
NDVI. Sensor noise (AOP 0.004, Sentinel-2 0.002 reflectance per band) is what keeps r2 below 1
(about 0.97: dark water pixels have noisy NDVI). The test predicts the relation from the
generators' own abundances, spectra and noise levels at the compared pixels (noise drawn
afresh) and checks the pipeline's statistics against it (observed on this site: slope 0.899 vs
0.903 predicted, intercept 0.010 vs 0.009, bias -0.0216 vs -0.0217, r2 0.9675 vs 0.9686).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import rasterio

from aopflow.demo.aop import SiteSpec, abundances_at, endmember_spectra, generate_site, wavelength_grid
from aopflow.demo.sentinel2 import BAND_KEYS, DEFAULT_SCENES, S2DemoSpec, spectra_on, write_demo_scenes
from aopflow.ndvi import normalized_difference
from aopflow.neon.reader import NeonTile
from aopflow.sentinel2 import compare as cmp
from aopflow.stages.mosaic import mosaic
from aopflow.stages.s2_products import s2_compare
from aopflow.stages.spectral import ndvi_tile

# Tolerances of the observed fit against the generators' noise-free prediction (sensor noise:
# AOP 0.004, Sentinel-2 0.002 reflectance), and the absolute bounds the issue asks for.
SLOPE_TOL, INTERCEPT_TOL, BIAS_TOL, R2_TOL = 0.01, 0.005, 0.002, 0.005
R2_MIN, SLOPE_RANGE, BIAS_RANGE = 0.9, (0.85, 0.95), (-0.04, -0.005)
DATES = ("2024-06-15", "2024-08-04")


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory):
    """AOP demo site (2 x 2 tiles of 100 px at 10 m, 426 bands) -> NDVI mosaic, and the demo
    Sentinel-2 scenes of two dates with their ground truth on the site grid."""
    root = tmp_path_factory.mktemp("s2demo")
    spec = SiteSpec(site="DEMO", shape=(2, 2), pixels=100, pixel_size=10.0, bands=426, seed=42)
    h5 = generate_site(spec, root / "h5")
    tiles = [ndvi_tile(p, root / "tiles" / f"{p.stem}.tif") for p in h5]
    mosaic(tiles, root / "mosaic" / "ndvi.tif")
    s2spec = S2DemoSpec(scenes=tuple(s for s in DEFAULT_SCENES if s.date in DATES), margin_m=600)
    write_demo_scenes(spec, s2spec, root / "s2demo")
    rows = []
    for d in DATES:
        with rasterio.open(root / "s2demo/truth" / d / "ndvi.tif") as src:
            frac = float(np.isfinite(src.read(1)).mean())
        rows.append({"date": d, "valid_fraction": frac, "used": True})
    pd.DataFrame(rows).to_csv(root / "date_summary.csv", index=False)
    return spec, root, h5


def predicted(spec: SiteSpec, s2spec: S2DemoSpec, date: str, transform, shape,
              seed: int = 99) -> tuple[np.ndarray, np.ndarray]:
    """AOP and Sentinel-2 NDVI at the grid's pixel centres from the generators' abundances and
    spectra, with their sensor noise (AOP ``spec.noise``, Sentinel-2 ``s2spec.noise``
    reflectance SD per band) drawn afresh: what the relation should look like."""
    rows, cols = shape
    xs = transform.c + (np.arange(cols) + 0.5) * transform.a
    ys = transform.f + (np.arange(rows) + 0.5) * transform.e
    X, Y = np.meshgrid(xs, ys)
    a = abundances_at(spec, X, Y).astype(np.float64)
    wl = wavelength_grid(spec.bands)
    bands = [int(np.argmin(np.abs(wl - w))) for w in (660.0, 860.0)]
    E = endmember_spectra(spec.materials, wl)[:, bands]
    S = spectra_on(spec.materials, dt.date.fromisoformat(date))[
        :, [BAND_KEYS.index("red"), BAND_KEYS.index("nir")]]

    rng = np.random.default_rng(seed)

    def ndvi(m, sd):
        r = a @ m + rng.normal(0.0, sd, size=a.shape[:-1] + (2,))
        return normalized_difference(r[..., 1], r[..., 0]).astype(np.float64)

    return ndvi(E, spec.noise), ndvi(S, s2spec.noise)


def test_demo_relation_is_what_the_generators_imply(demo_site, tmp_path):
    spec, root, h5 = demo_site
    row = s2_compare(root / "mosaic/ndvi.tif", root / "date_summary.csv",
                     [root / "s2demo/truth" / d / "ndvi.tif" for d in DATES], h5,
                     table_path=tmp_path / "aop_vs_s2.csv", hexbin_png=tmp_path / "hexbin.png")
    # The AOP flight: flight lines of 2024-06-11/12 and 2024-07-13; the mode is 06-11, so the
    # nearest Sentinel-2 date is 2024-06-15 (4 days later).
    assert row["aop_date"] == "2024-06-11"
    assert row["s2_date"] == "2024-06-15" and row["gap_days"] == 4
    aop, s2 = cmp.compare_grid(root / "mosaic/ndvi.tif", root / "s2demo/truth/2024-06-15/ndvi.tif")
    with rasterio.open(root / "s2demo/truth/2024-06-15/ndvi.tif") as src:
        p_aop, p_s2 = predicted(spec, S2DemoSpec(), "2024-06-15", src.transform, src.shape)
    both = np.isfinite(aop) & np.isfinite(s2)
    want = cmp.fit_stats(np.where(both, p_aop, np.nan), np.where(both, p_s2, np.nan))
    # The predicted NDVI is no data, by the NDVI rule, on a few noisy dark pixels of its own.
    assert row["n"] == both.sum() > 10000 and 0 <= row["n"] - want["n"] < 50
    assert row["r2"] >= R2_MIN and abs(row["r2"] - want["r2"]) <= R2_TOL
    assert abs(row["slope"] - want["slope"]) <= SLOPE_TOL
    assert abs(row["intercept"] - want["intercept"]) <= INTERCEPT_TOL
    assert abs(row["bias"] - want["bias"]) <= BIAS_TOL
    assert SLOPE_RANGE[0] <= row["slope"] <= SLOPE_RANGE[1]
    assert BIAS_RANGE[0] <= row["bias"] <= BIAS_RANGE[1]
    table = pd.read_csv(tmp_path / "aop_vs_s2.csv")
    assert table["best_shift"][0] == "0,0"


def test_demo_misregistration_is_detected(demo_site):
    """A 1-pixel (10 m) shift of the grids lowers r2 in every direction: the alignment is
    proven by the data (r2 peaks on the aligned grid), not assumed."""
    _, root, _ = demo_site
    for d in DATES:
        scan = cmp.shift_scan(root / "mosaic/ndvi.tif", root / "s2demo/truth" / d / "ndvi.tif")
        aligned = scan.pop((0, 0))
        assert len(scan) == 8
        assert max(scan.values()) <= aligned - 0.002, (d, aligned, scan)
        # The same through the direct route: a shifted grid's fit.
        a, s = cmp.compare_grid(root / "mosaic/ndvi.tif", root / "s2demo/truth" / d / "ndvi.tif",
                                shift_pixels=(0, 1))
        assert cmp.fit_stats(a, s)["r2"] == pytest.approx(scan[(0, 1)])


def test_demo_ndvi_is_in_the_unit_interval_everywhere(demo_site):
    """The issue's failing case: dark demo pixels whose noisy red or NIR reflectance is
    negative gave AOP NDVI down to -1.71. Now they are no data (docs/ndvi.md), exactly those,
    in the tiles' mosaic; the Sentinel-2 NDVI and both sides of the comparison stay in [-1, 1]."""
    spec, root, h5 = demo_site
    removed = nodata = 0
    for p in h5:
        with NeonTile(p) as t:
            r, n = t.meta.nearest_bands([660.0, 860.0])
            raw = t.read_bands([r, n]).astype(np.int32)
            red, nir = raw[..., 0], raw[..., 1]
            is_nodata = (red == t.meta.nodata) | (nir == t.meta.nodata)
        nodata += int(is_nodata.sum())
        removed += int((~is_nodata & ((red < 0) | (nir < 0) | ((red == 0) & (nir == 0)))).sum())
    assert removed > 0  # the case is exercised
    with rasterio.open(root / "mosaic/ndvi.tif") as src:
        mosaic = src.read(1)
    assert int(np.isnan(mosaic).sum()) == nodata + removed
    assert np.nanmin(mosaic) >= -1 and np.nanmax(mosaic) <= 1
    for d in DATES:
        with rasterio.open(root / "s2demo/truth" / d / "ndvi.tif") as src:
            s2 = src.read(1)
        aop_blocks, s2_grid = cmp.compare_grid(root / "mosaic/ndvi.tif", root / "s2demo/truth" / d / "ndvi.tif")
        for arr in (s2, aop_blocks, s2_grid):
            assert np.isfinite(arr).mean() > 0.5
            assert np.nanmin(arr) >= -1 and np.nanmax(arr) <= 1
