"""Tests of the Sentinel-2 products on small generated rasters: composites, NDVI time series
at plots, AOP vs Sentinel-2 (block mean onto the grid, fit statistics, dates), per period."""

from __future__ import annotations

import csv
import math
import re
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import rasterstats
import shapely
from affine import Affine

from aopflow.demo.aop import SiteSpec, generate_site
from aopflow.errors import ConfigError, InputDataError
from aopflow.ndvi import normalized_difference
from aopflow.raster import write_geotiff
from aopflow.sentinel2 import compare as cmp
from aopflow.sentinel2.composite import (
    PERIOD_LABEL_PATTERN,
    group_by_period,
    median_composite,
    nan_median,
    period_label,
)
from aopflow.sentinel2.dates import read_date_summary
from aopflow.sentinel2.timeseries import ndvi_timeseries, plot_timeseries
from aopflow.aggregate import block_aggregate
from aopflow.stages.s2_products import s2_compare, s2_compare_plots, s2_composite, s2_timeseries
from aopflow.zonal import zonal_stats_array

CRS = "EPSG:32611"
T10 = Affine(10, 0, 500000, 0, -10, 4102000)  # a 10 m site grid, corner on the 1 km grid
DATES = ["2024-04-28", "2024-05-10", "2024-05-30", "2024-06-14", "2024-07-02", "2024-09-01"]


def reference_nanmedian(stack: np.ndarray) -> np.ndarray:
    """numpy.nanmedian over dates; all-NaN pixels are NaN (its warning about them is expected)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="All-NaN slice encountered",
                                category=RuntimeWarning)
        return np.nanmedian(stack, axis=0)


def make_dates(root: Path, shape=(37, 53), dates=DATES, seed=0, bands=("red", "nir")):
    """Per-date s2/dates/{date}/{ndvi,reflectance}.tif with NaN masks (some pixels never valid),
    and a date_summary.csv (the last date not used). Returns (ndvi stack, reflectance stack)."""
    rng = np.random.default_rng(seed)
    d = len(dates)
    refl = rng.uniform(0.02, 0.5, size=(d, len(bands), *shape)).astype(np.float32)
    mask = rng.random((d, *shape)) < 0.35
    mask[:, :3, :4] = True  # never observed
    mask[1] = True  # a date fully masked
    refl[np.broadcast_to(mask[:, None], refl.shape)] = np.nan
    red, nir = refl[:, 0], refl[:, 1]
    ndvi = ((nir - red) / (nir + red)).astype(np.float32)
    rows = []
    for k, date in enumerate(dates):
        folder = root / "s2" / "dates" / date
        write_geotiff(folder / "ndvi.tif", ndvi[k], crs=CRS, transform=T10, nodata=float("nan"))
        write_geotiff(folder / "reflectance.tif", refl[k], crs=CRS, transform=T10,
                      nodata=float("nan"), band_names=list(bands))
        frac = float(np.isfinite(ndvi[k]).mean())
        rows.append({"date": date, "item_ids": f"S2X_{date}", "valid_fraction": frac,
                     "used": k != len(dates) - 1 and k != 1})
    with open(root / "s2" / "date_summary.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return ndvi, refl


def ndvi_paths(root: Path, dates=DATES) -> list[str]:
    return [str(root / "s2" / "dates" / d / "ndvi.tif") for d in dates]


def refl_paths(root: Path, dates=DATES) -> list[str]:
    return [str(root / "s2" / "dates" / d / "reflectance.tif") for d in dates]


# --------------------------------------------------------------------------------------------
# Composites
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 2, 5, 6])
def test_nan_median_equals_numpy(n):
    rng = np.random.default_rng(n)
    stack = rng.normal(size=(n, 40, 30)).astype(np.float32)
    stack[rng.random(stack.shape) < 0.4] = np.nan
    med, count = nan_median(stack)
    assert med.dtype == np.float32
    np.testing.assert_array_equal(count, np.isfinite(stack).sum(axis=0))
    if n:
        np.testing.assert_array_equal(med, reference_nanmedian(stack))
    else:
        assert np.isnan(med).all()


def test_composite_equals_nanmedian_over_used_dates(tmp_path):
    ndvi, refl = make_dates(tmp_path)
    used = [r["date"] for r in read_date_summary(tmp_path / "s2" / "date_summary.csv") if r["used"]]
    assert used == [DATES[0], *DATES[2:5]]
    idx = [DATES.index(d) for d in used]
    out = tmp_path / "s2" / "composite"
    # 4 rows per window: the 37 rows take 10 windows, the last one partial.
    median_composite([ndvi_paths(tmp_path)[i] for i in idx], [refl_paths(tmp_path)[i] for i in idx],
                     ndvi_out=out / "ndvi_median.tif", count_out=out / "valid_count.tif",
                     reflectance_out=out / "reflectance_median.tif", window_rows=4)
    with rasterio.open(out / "ndvi_median.tif") as src:
        got = src.read(1)
        assert src.dtypes[0] == "float32" and math.isnan(src.nodata)
        assert src.transform == T10 and src.crs == CRS
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
    np.testing.assert_array_equal(got, reference_nanmedian(ndvi[idx]))
    assert np.isnan(got[:3, :4]).all()
    with rasterio.open(out / "valid_count.tif") as src:
        count = src.read(1)
        assert src.dtypes[0] == "uint16"
    np.testing.assert_array_equal(count, np.isfinite(ndvi[idx]).sum(axis=0))
    assert (count[:3, :4] == 0).all() and count.max() == len(idx)
    with rasterio.open(out / "reflectance_median.tif") as src:
        assert src.descriptions == ("red", "nir")
        np.testing.assert_array_equal(src.read(), reference_nanmedian(refl[idx]))


def test_composite_is_the_median_of_the_valid_dates_under_the_ndvi_rule(tmp_path):
    """Per-date NDVI by the NDVI rule (no data where red or NIR is negative or both zero), then
    the median of each pixel's valid dates; hand-computed."""
    # (red, nir) per date (rows) and pixel (columns).
    obs = [[(0.05, 0.45), (0.0, 0.0), (-0.01, 0.1), (0.0, 0.4)],
           [(-0.01, 0.3), (0.02, -0.005), (0.0, 0.0), (0.0, 0.2)],
           [(0.1, 0.3), (0.2, 0.2), (0.1, -0.1), (0.3, 0.1)]]
    paths = []
    for k, day in enumerate(obs):
        red, nir = (np.array([[v[i] for v in day]], np.float32) for i in (0, 1))
        paths.append(write_geotiff(tmp_path / f"d{k}" / "ndvi.tif", normalized_difference(nir, red), crs=CRS,
                                   transform=T10, nodata=float("nan")))
    median_composite(paths, None, ndvi_out=tmp_path / "m.tif", count_out=tmp_path / "c.tif")
    with rasterio.open(tmp_path / "m.tif") as m, rasterio.open(tmp_path / "c.tif") as c:
        med, count = m.read(1)[0], c.read(1)[0]
    # pixel 0: 0.8 and 0.5 (date 2: red < 0); 1: 0 only; 2: none valid; 3: 1, 1, -0.5.
    np.testing.assert_allclose(med, [0.65, 0.0, np.nan, 1.0], atol=1e-7)
    assert count.tolist() == [2, 1, 0, 3]


def test_composite_stage_selects_used_dates_and_periods(tmp_path):
    ndvi, _ = make_dates(tmp_path)
    summary = tmp_path / "s2" / "date_summary.csv"
    out = tmp_path / "c"
    # Period 2024-05: 05-10 (masked, not used) and 05-30 (used) -> the composite of 05-30 only.
    may = [d for d in DATES if d.startswith("2024-05")]
    s2_composite(summary, ndvi_paths(tmp_path, may), refl_paths(tmp_path, may),
                 ndvi_out=out / "n.tif", reflectance_out=out / "r.tif", count_out=out / "c.tif",
                 period="month", label="2024-05")
    with rasterio.open(out / "n.tif") as src:
        np.testing.assert_array_equal(src.read(1), ndvi[DATES.index("2024-05-30")])
        assert src.tags()["dates"] == "2024-05-30"
    # Period 2024-09: only the unused date -> empty composites, count 0.
    s2_composite(summary, ndvi_paths(tmp_path, DATES[-1:]), refl_paths(tmp_path, DATES[-1:]),
                 ndvi_out=out / "n9.tif", reflectance_out=out / "r9.tif",
                 count_out=out / "c9.tif", period="month", label="2024-09")
    with rasterio.open(out / "n9.tif") as a, rasterio.open(out / "c9.tif") as c, \
            rasterio.open(out / "r9.tif") as r:
        assert np.isnan(a.read()).all() and (c.read() == 0).all() and r.count == 2
        assert a.shape == ndvi.shape[1:]


def test_period_labels():
    assert period_label("2024-05-30", "all") == "all"
    assert period_label("2024-05-30", "month") == "2024-05"
    assert period_label("2024-05-30", "season") == "2024-MAM"
    assert period_label("2024-12-03", "season") == "2025-DJF"
    assert period_label("2025-02-27", "season") == "2025-DJF"
    assert group_by_period(DATES, "season") == {
        "2024-MAM": DATES[:3], "2024-JJA": DATES[3:5], "2024-SON": DATES[5:]}
    with pytest.raises(ConfigError, match="sentinel2.composite.period"):
        period_label("2024-05-30", "week")
    # The {s2period} wildcard's pattern takes every month and season label, and not "all".
    days = [f"2024-{m:02d}-15" for m in range(1, 13)]
    labels = {period_label(d, p) for d in days for p in ("month", "season")}
    assert len(labels) == 12 + 5 and all(re.fullmatch(PERIOD_LABEL_PATTERN, x) for x in labels)
    assert not re.fullmatch(PERIOD_LABEL_PATTERN, "all")


def test_date_summary_errors(tmp_path):
    bad = tmp_path / "date_summary.csv"
    bad.write_text("date,valid_fraction\n2024-05-01,0.5\n")
    with pytest.raises(InputDataError, match="used"):
        read_date_summary(bad)
    bad.write_text("date,valid_fraction,used\n2024-5-1,0.5,True\n")
    with pytest.raises(InputDataError, match="YYYY-MM-DD"):
        read_date_summary(bad)


def test_composite_refuses_other_grid(tmp_path):
    make_dates(tmp_path)
    other = tmp_path / "other.tif"
    write_geotiff(other, np.zeros((37, 53), np.float32), crs=CRS,
                  transform=T10 @ Affine.translation(1, 0), nodata=float("nan"))
    with pytest.raises(InputDataError, match="one site grid"):
        median_composite([ndvi_paths(tmp_path)[0], other], None, ndvi_out=tmp_path / "a.tif",
                         count_out=tmp_path / "b.tif")
    assert not (tmp_path / "a.tif").exists()


# --------------------------------------------------------------------------------------------
# Time series at plots
# --------------------------------------------------------------------------------------------


def make_plots(path: Path | None = None) -> gpd.GeoDataFrame:
    """Five plots: discs, a square, one in the never-observed corner, one half outside."""
    x0, y0 = T10.c, T10.f
    geoms = [
        shapely.Point(x0 + 105, y0 - 95).buffer(20, quad_segs=16),
        shapely.Point(x0 + 333, y0 - 222).buffer(27, quad_segs=16),
        shapely.box(x0 + 400, y0 - 300, x0 + 450, y0 - 240),
        shapely.box(x0 + 2, y0 - 25, x0 + 35, y0 - 3),  # inside the never-observed corner
        shapely.Point(x0 + 530, y0 - 100).buffer(25, quad_segs=16),  # straddles the east edge
    ]
    gdf = gpd.GeoDataFrame({"plotID": [f"P{i}" for i in range(5)]}, geometry=geoms, crs=CRS)
    if path is not None:
        gdf.to_file(path, driver="GPKG")
    return gdf


@pytest.mark.parametrize("exact", [False, True])
def test_timeseries_equals_zonal_engine_per_date(tmp_path, exact):
    ndvi, _ = make_dates(tmp_path)
    plots = make_plots()
    paths = dict(zip(DATES, ndvi_paths(tmp_path)))
    used = {r["date"]: r["used"] for r in read_date_summary(tmp_path / "s2/date_summary.csv")}
    table = ndvi_timeseries(plots, paths, id_column="plotID", used=used,
                            stats=["min", "max", "mean"], percentiles=[10, 90], exact=exact)
    assert list(table.columns[:9]) == ["plotID", "date", "used", "count", "valid_fraction",
                                       "mean", "median", "std", "min"]
    assert {"p10", "p90", "max"} <= set(table.columns)
    assert len(table) == 5 * len(DATES)
    assert table["plotID"].tolist() == [f"P{i}" for i in range(5) for _ in DATES]
    names = ["count", "mean", "median", "std", "min", "max", "p10", "p90"]
    ones = np.ones(ndvi.shape[1:], np.float32)
    total = [r["count"] for r in zonal_stats_array(plots.geometry, ones, T10, stats=["count"],
                                                   exact=exact)]
    for k, d in enumerate(DATES):
        ref = zonal_stats_array(plots.geometry, ndvi[k], T10, stats=names, exact=exact)
        got = table[table["date"] == d].reset_index(drop=True)
        assert got["used"].tolist() == [used[d]] * 5
        for i, rec in enumerate(ref):
            for name in names:
                want = rec[name]
                if want is None or rec["count"] == 0:
                    assert got.loc[i, "count"] == 0
                    if name != "count":
                        assert np.isnan(got.loc[i, name])
                else:
                    assert got.loc[i, name] == pytest.approx(want, rel=1e-12, abs=1e-12), (d, i, name)
            assert got.loc[i, "valid_fraction"] == pytest.approx(rec["count"] / total[i])
    # The plot in the never-observed corner, and every plot on the fully masked date: count 0.
    corner = table[table["plotID"] == "P3"]
    assert (corner["count"] == 0).all() and corner["mean"].isna().all()
    masked = table[table["date"] == DATES[1]]
    assert (masked["count"] == 0).all() and (masked["valid_fraction"] == 0).all()
    # The plot half outside the raster: its fraction is over its pixels on the grid.
    edge = table[(table["plotID"] == "P4") & (table["date"] == DATES[0])].iloc[0]
    assert 0 < edge["valid_fraction"] <= 1


# rasterstats 0.20 multiplies Affine objects with `*` (affine >= 3.1 warns about it).
@pytest.mark.filterwarnings(
    "ignore:Use `@` matmul instead of `\\*` mul operator:PendingDeprecationWarning")
def test_timeseries_matches_rasterstats_at_a_sample(tmp_path):
    ndvi, _ = make_dates(tmp_path)
    plots = make_plots()
    table = ndvi_timeseries(plots, dict(zip(DATES, ndvi_paths(tmp_path))), id_column="plotID")
    d = 2
    ref = rasterstats.zonal_stats(list(plots.geometry), ndvi[d], affine=T10, nodata=np.nan,
                                  stats=["count", "mean", "median", "std"])
    got = table[table["date"] == DATES[d]].reset_index(drop=True)
    for i, rec in enumerate(ref):
        assert got.loc[i, "count"] == rec["count"]
        if rec["count"]:
            for name in ("mean", "median", "std"):
                assert got.loc[i, name] == pytest.approx(rec[name], rel=1e-6)


def test_timeseries_stage_writes_csv_gpkg_and_figure(tmp_path):
    make_dates(tmp_path)
    plots_path = tmp_path / "plots.gpkg"
    make_plots(plots_path)
    z = tmp_path / "s2"
    s2_timeseries(tmp_path / "s2/date_summary.csv", ndvi_paths(tmp_path), plots_path,
                  csv_path=z / "ndvi_timeseries.csv", gpkg_path=z / "ndvi_timeseries.gpkg",
                  png_path=tmp_path / "figures/s2_ndvi_timeseries.png", percentiles=[10, 90],
                  stats=["count", "min", "max", "mean", "median", "std"])
    csv_t = pd.read_csv(z / "ndvi_timeseries.csv")
    gpkg_t = gpd.read_file(z / "ndvi_timeseries.gpkg")
    assert len(csv_t) == len(gpkg_t) == 5 * len(DATES)
    np.testing.assert_allclose(csv_t["mean"], gpkg_t["mean"], equal_nan=True)
    assert gpkg_t.crs == CRS and (gpkg_t.geometry.geom_type == "Polygon").all()
    assert {"p10", "p90", "valid_fraction", "used"} <= set(csv_t.columns)
    assert (tmp_path / "figures/s2_ndvi_timeseries.png").stat().st_size > 5000


def test_timeseries_figure_small_multiples(tmp_path):
    rows = []
    for i in range(20):
        for k, d in enumerate(DATES):
            rows.append({"plotID": f"P{i:02d}", "date": d, "used": k != 1,
                         "mean": np.nan if (i + k) % 5 == 0 else 0.2 + 0.05 * k})
    png = tmp_path / "multi.png"
    plot_timeseries(pd.DataFrame(rows), png, id_column="plotID")
    import matplotlib.image

    img = matplotlib.image.imread(png)
    assert img.shape[0] > 600 and img.shape[1] > 800  # a 5 x 4 grid of panels


# --------------------------------------------------------------------------------------------
# AOP vs Sentinel-2
# --------------------------------------------------------------------------------------------


def test_fit_stats_equals_direct_computation():
    rng = np.random.default_rng(4)
    x = rng.uniform(0, 0.9, 500)
    y = 0.05 + 0.9 * x + rng.normal(0, 0.03, 500)
    x[:7] = np.nan
    y[10:15] = np.nan
    ok = np.isfinite(x) & np.isfinite(y)
    slope, intercept = np.polyfit(x[ok], y[ok], 1)
    fit = cmp.fit_stats(x, y)
    assert fit["n"] == ok.sum() == 488
    assert fit["slope"] == pytest.approx(slope, rel=1e-10)
    assert fit["intercept"] == pytest.approx(intercept, rel=1e-9)
    assert fit["r2"] == pytest.approx(np.corrcoef(x[ok], y[ok])[0, 1] ** 2, rel=1e-12)
    assert fit["rmse"] == pytest.approx(np.sqrt(np.mean((y[ok] - x[ok]) ** 2)))
    assert fit["bias"] == pytest.approx(np.mean(y[ok] - x[ok]))
    few = cmp.fit_stats([0.1, np.nan], [0.2, 0.3])
    assert few["n"] == 1 and np.isnan(few["slope"]) and few["bias"] == pytest.approx(0.1)


def test_block_mean_min_valid_fraction():
    a = np.arange(36, dtype=np.float32).reshape(6, 6)
    a[0, 0] = np.nan  # block (0, 0): 8 of 9 valid
    a[3:6, 0:3] = np.nan  # block (1, 0): none valid
    strict = block_aggregate(a, 3, "mean", min_valid_fraction=0.9)
    loose = block_aggregate(a, 3, "mean", min_valid_fraction=0.85)
    assert np.isnan(strict[0, 0]) and loose[0, 0] == pytest.approx(np.nanmean(a[:3, :3]))
    assert np.isnan(strict[1, 0]) and np.isnan(loose[1, 0])
    assert strict[0, 1] == loose[0, 1] == pytest.approx(a[:3, 3:].mean())
    # Without the threshold, the existing behaviour: any valid pixel will do.
    np.testing.assert_array_equal(block_aggregate(a, 3, "mean"), loose)
    # Partial edge blocks: the fraction is over the pixels that exist (2 x 3 here, 5 valid).
    b = np.ones((5, 3), np.float32)
    b[4, 0] = np.nan
    assert block_aggregate(b, 3, "mean", min_valid_fraction=0.8)[1, 0] == 1.0
    assert np.isnan(block_aggregate(b, 3, "mean", min_valid_fraction=0.9)[1, 0])
    with pytest.raises(ConfigError, match="needs method 'mean'"):
        block_aggregate(a, 3, "majority", min_valid_fraction=0.5)


def test_aop_on_grid_is_the_block_mean(tmp_path):
    # AOP at 2 m, S2 grid at 6 m (factor 3) starting 12 m inside the mosaic and reaching 6 m
    # past its east edge: the last block column is partly outside (fraction 0 there).
    rng = np.random.default_rng(1)
    aop = rng.uniform(-0.1, 0.9, size=(45, 60)).astype(np.float32)
    aop[rng.random(aop.shape) < 0.2] = -9999
    ta = Affine(2, 0, 500000, 0, -2, 4102000)
    write_geotiff(tmp_path / "ndvi.tif", aop, crs=CRS, transform=ta, nodata=-9999)
    grid = Affine(6, 0, 500012, 0, -6, 4102000 - 6)
    shape = (13, 19)  # rows 3..42, cols 6..62 of the AOP pixels
    got = cmp.aop_on_grid(tmp_path / "ndvi.tif", crs=CRS, transform=grid, shape=shape,
                          min_valid_fraction=0.5, window_rows=4)
    vals = np.where(aop == -9999, np.nan, aop)
    padded = np.full((45, 63), np.nan, np.float32)
    padded[:, :60] = vals
    for r in range(13):
        for c in range(19):
            blk = padded[3 + 3 * r:6 + 3 * r, 6 + 3 * c:9 + 3 * c]
            n = np.isfinite(blk).sum()
            if n >= 4.5:
                assert got[r, c] == pytest.approx(np.nanmean(blk), rel=1e-6)
            else:
                assert np.isnan(got[r, c])
    assert np.isnan(got[:, -1]).all()  # AOP columns 60..62 do not exist
    with pytest.raises(InputDataError, match="AOP pixel edge"):
        cmp.aop_on_grid(tmp_path / "ndvi.tif", crs=CRS, transform=grid @ Affine.translation(0.5, 0),
                        shape=shape)
    with pytest.raises(ConfigError, match="whole multiple"):
        cmp.aop_on_grid(tmp_path / "ndvi.tif", crs=CRS,
                        transform=Affine(5, 0, 500000, 0, -5, 4102000), shape=shape)


def smooth_field(shape, seed=0):
    """An NDVI-like field (in [-1, 1]) with structure at a few pixels' scale (so a 1-pixel
    shift decorrelates it)."""
    rng = np.random.default_rng(seed)
    f = rng.normal(size=shape)
    k = np.ones(3) / 3
    for axis in (0, 1):
        f = np.apply_along_axis(lambda v: np.convolve(v, k, mode="same"), axis, f)
    return np.clip(0.45 + 0.25 * f / f.std(), -1, 1).astype(np.float32)


def test_compare_stage_and_misregistration(tmp_path):
    # AOP NDVI at 10 m = the S2 grid (block 1 x 1), S2 = 0.92 AOP + 0.03 + noise.
    aop = smooth_field((60, 80))
    ta = T10
    write_geotiff(tmp_path / "mosaic/ndvi.tif", aop, crs=CRS, transform=ta, nodata=float("nan"))
    rng = np.random.default_rng(2)
    root = tmp_path
    dates = ["2024-06-01", "2024-06-20", "2024-07-30"]
    rows = []
    for k, d in enumerate(dates):
        s2 = np.clip(0.03 + 0.92 * aop + rng.normal(0, 0.01, aop.shape), -1, 1).astype(np.float32)
        s2[:10, :10] = np.nan
        write_geotiff(root / "s2/dates" / d / "ndvi.tif", s2, crs=CRS, transform=T10,
                      nodata=float("nan"))
        rows.append({"date": d, "valid_fraction": 0.97, "used": d != "2024-06-20"})
    pd.DataFrame(rows).to_csv(root / "s2/date_summary.csv", index=False)
    h5 = generate_site(SiteSpec(site="TEST", shape=(1, 1), pixels=20, pixel_size=50.0, bands=30,
                                revision="002"), tmp_path / "h5")
    aop_date, by_date = cmp.aop_flight_date(h5)
    assert aop_date in by_date and by_date[aop_date] == max(by_date.values())
    row = s2_compare(tmp_path / "mosaic/ndvi.tif", root / "s2/date_summary.csv",
                     [root / "s2/dates" / d / "ndvi.tif" for d in dates], h5,
                     table_path=tmp_path / "tables/aop_vs_s2.csv",
                     hexbin_png=tmp_path / "figures/s2_aop_vs_s2.png")
    table = pd.read_csv(tmp_path / "tables/aop_vs_s2.csv")
    assert list(table.columns[:6]) == list(cmp.FIT_COLUMNS)
    want = cmp.choose_s2_date(["2024-06-01", "2024-07-30"], dates, aop_date=aop_date,
                              compare_date=None)
    assert row["s2_date"] == want and table["s2_date"][0] == want
    assert row["n"] == 60 * 80 - 100
    assert row["slope"] == pytest.approx(0.92, abs=0.01) and row["r2"] > 0.98
    assert table["gap_days"][0] == cmp.gap_days(want, aop_date)
    # A 1-pixel (10 m) misregistration of the grids is detected: r2 drops measurably.
    for shift in [(0, 1), (1, 0)]:
        a, s = cmp.compare_grid(tmp_path / "mosaic/ndvi.tif",
                                root / "s2/dates" / want / "ndvi.tif", shift_pixels=shift)
        assert cmp.fit_stats(a, s)["r2"] < row["r2"] - 0.2
    # compare_date picks the date; an unknown one is a clear error.
    row2 = s2_compare(tmp_path / "mosaic/ndvi.tif", root / "s2/date_summary.csv",
                      [root / "s2/dates" / d / "ndvi.tif" for d in dates], h5,
                      table_path=tmp_path / "t2.csv", hexbin_png=tmp_path / "h2.png",
                      compare_date="2024-07-30")
    assert row2["s2_date"] == "2024-07-30" and row2["date_source"] == "sentinel2.compare_date"
    with pytest.raises(ConfigError, match="compare_date 2024-07-31"):
        cmp.choose_s2_date(dates, dates, aop_date=None, compare_date="2024-07-31")
    # Plots: plot means of both, table and labelled scatter.
    plots_path = tmp_path / "plots.gpkg"
    make_plots(plots_path)
    s2_timeseries(root / "s2/date_summary.csv", [root / "s2/dates" / d / "ndvi.tif" for d in dates],
                  plots_path, csv_path=tmp_path / "ts.csv", gpkg_path=tmp_path / "ts.gpkg",
                  png_path=tmp_path / "ts.png")
    out = s2_compare_plots(tmp_path / "mosaic/ndvi.tif", tmp_path / "ts.csv",
                           tmp_path / "tables/aop_vs_s2.csv", plots_path,
                           table_path=tmp_path / "tables/aop_vs_s2_plots.csv",
                           png_path=tmp_path / "figures/s2_aop_vs_s2_plots.png")
    ts = pd.read_csv(tmp_path / "ts.csv")
    ts = ts[ts["date"] == want].set_index("plotID")
    assert (out["s2_date"] == want).all()
    ok = out["s2_count"] > 0
    np.testing.assert_allclose(out.loc[ok, "s2_mean"], ts.loc[out.loc[ok, "plotID"], "mean"])
    ref = zonal_stats_array(make_plots().geometry, aop, ta, stats=["mean"])
    np.testing.assert_allclose(out["aop_mean"], [r["mean"] if r["mean"] is not None else np.nan
                                                 for r in ref], equal_nan=True)
    assert (tmp_path / "figures/s2_aop_vs_s2_plots.png").stat().st_size > 5000


def test_compare_refuses_ndvi_outside_the_unit_interval(tmp_path):
    """An NDVI raster made before the NDVI rule (docs/ndvi.md), e.g. the demo mosaic's pixels
    down to -1.71, is refused with a message that says how to remake it."""
    ok = smooth_field((60, 80))
    bad = ok.copy()
    bad[5, 7], bad[6, 8] = -1.71, np.nan
    for name, arr in (("ok", ok), ("bad", bad)):
        write_geotiff(tmp_path / f"{name}.tif", arr, crs=CRS, transform=T10, nodata=float("nan"))
    aop, s2 = cmp.compare_grid(tmp_path / "ok.tif", tmp_path / "ok.tif")
    np.testing.assert_array_equal(aop, s2)
    msg = r"NDVI .*bad.tif: 1 NDVI value\(s\) outside \[-1, 1\] \(from -1.71 to -1.71\).*delete it and rerun"
    with pytest.raises(InputDataError, match="AOP " + msg):
        cmp.compare_grid(tmp_path / "bad.tif", tmp_path / "ok.tif")
    with pytest.raises(InputDataError, match="Sentinel-2 " + msg):
        cmp.compare_grid(tmp_path / "ok.tif", tmp_path / "bad.tif")


def test_choose_s2_date_nearest_and_ties():
    used = ["2024-06-01", "2024-06-21", "2024-07-30"]
    assert cmp.choose_s2_date(used, used, aop_date="2024-06-12", compare_date=None) == "2024-06-21"
    assert cmp.choose_s2_date(used, used, aop_date="2024-06-11", compare_date=None) == "2024-06-01"
    with pytest.raises(InputDataError, match="No used Sentinel-2 date"):
        cmp.choose_s2_date([], used, aop_date="2024-06-11", compare_date=None)


def test_aop_flight_date_needs_compare_date_for_001_tiles(tmp_path):
    h5 = generate_site(SiteSpec(site="TEST", shape=(1, 1), pixels=10, pixel_size=50.0, bands=30,
                                revision="001", chunks="legacy"), tmp_path)
    with pytest.raises(ConfigError, match="sentinel2.compare_date"):
        cmp.aop_flight_date(h5)
