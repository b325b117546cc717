"""Tests of aopflow.zonal: pixel-centre statistics against rasterstats, exact statistics against
exactextract, hand-computed cases, plot reading in every format, files and figures."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterstats
import shapely
from affine import Affine
from exactextract import exact_extract
from exactextract.raster import NumPyRasterSource
from pyproj import CRS, Transformer
from rasterio import features

from aopflow.errors import ConfigError, InputDataError
from aopflow.zonal import (
    STATS,
    parse_stats,
    plot_arrays_file,
    read_plots,
    write_plot_arrays,
    write_zonal,
    zonal_stats_array,
    zonal_stats_file,
)
from aopflow.zonal.figures import plot_zonal_bars, plot_zonal_histograms
from aopflow.zonal.membership import pixel_centre_samples, plot_windows


EPSG = "EPSG:32611"
T = Affine(1.0, 0.0, 500000.0, 0.0, -1.0, 4100000.0)
NODATA = -9999.0
RTOL = 1e-6


def _raster(rng, shape=(120, 160), dtype=np.float64):
    """Canopy-height-like values with scattered nodata/NaN and a block of nodata."""
    arr = rng.gamma(2.0, 5.0, shape)
    if np.issubdtype(np.dtype(dtype), np.integer):
        arr = np.round(arr)
    arr = arr.astype(dtype)
    arr[rng.random(shape) < 0.05] = NODATA
    if np.issubdtype(np.dtype(dtype), np.floating):
        arr[rng.random(shape) < 0.05] = np.nan
    arr[30:50, 40:70] = NODATA
    return arr


def _plots(rng, shape=(120, 160), n=60, transform=T):
    """Discs (random centres, radii 1.5-12 m), some half outside; one outside; one on nodata."""
    h, w = shape
    cols = rng.uniform(-8, w + 8, n)
    rows = rng.uniform(-8, h + 8, n)
    xs, ys = transform @ (cols, rows)
    geoms = list(shapely.buffer(shapely.points(xs, ys), rng.uniform(1.5, 12, n)))
    geoms.append(shapely.Point(*(transform @ (-50, -50))).buffer(5))  # entirely outside
    geoms.append(shapely.Point(*(transform @ (55, 40))).buffer(4))  # only nodata
    geoms.append(shapely.Point(*(transform @ (0.3, h / 2))).buffer(6))  # half outside (west)
    return geoms


def _rs_name(name: str) -> str:
    return f"percentile_{name[1:]}" if name[0] == "p" and name[1].isdigit() else name


def _assert_same(mine: list[dict], ref: list[dict], names, ref_names=None, rtol=RTOL):
    ref_names = ref_names or {n: n for n in names}
    assert len(mine) == len(ref)
    for i, (a, b) in enumerate(zip(mine, ref)):
        for n in names:
            x, y = a[n], b[ref_names[n]]
            if y is None or (isinstance(y, float) and np.isnan(y)):
                assert x is None or (n == "count" and x == 0), (i, n, x, y)
            else:
                assert x is not None, (i, n, x, y)
                np.testing.assert_allclose(x, y, rtol=rtol, atol=rtol, err_msg=f"plot {i} {n}")


# ---------------------------------------------------------------------------------------------
# Hand-computed cases
# ---------------------------------------------------------------------------------------------

HAND = np.array([[10.0, 15.0], [np.nan, NODATA]])
HAND_T = Affine(1.0, 0.0, 0.0, 0.0, -1.0, 2.0)


def test_hand_2x2_pixel_centre_and_rasterstats():
    box = shapely.box(0, 0, 2, 2)
    (got,) = zonal_stats_array([box], HAND, HAND_T, nodata=NODATA,
                               stats="count min max mean median std sum p90")
    assert got == {"count": 2, "min": 10.0, "max": 15.0, "mean": 12.5, "median": 12.5,
                   "std": 2.5, "sum": 25.0, "p90": 14.5}
    (ref,) = rasterstats.zonal_stats([box], HAND, affine=HAND_T, nodata=NODATA,
                                     stats="count mean")
    assert ref == {"count": 2, "mean": 12.5}


def test_hand_2x2_exact():
    # Left column fully covered (10, NaN), right column a quarter covered (15, nodata):
    # count = 1.25, sum = 10 + 0.25*15, mean = 11, var = (1*1 + 0.25*16)/1.25 = 4,
    # exactextract median: s = [0, 1*0.25 + 1*1] -> 10 + (0.5*1.25 - 0)*(15-10)/1.25 = 12.5
    box = shapely.box(0, 0, 1.25, 2)
    (got,) = zonal_stats_array([box], HAND, HAND_T, nodata=NODATA, exact=True,
                               stats="count min max mean median std sum")
    expected = {"count": 1.25, "min": 10.0, "max": 15.0, "mean": 11.0, "median": 12.5,
                "std": 2.0, "sum": 13.75}
    assert got.keys() == expected.keys()
    for k, v in expected.items():
        assert got[k] == pytest.approx(v, rel=1e-12), k
    # The pixel-centre rule only takes the left column (centre x = 0.5 < 1.25 < 1.5).
    (pc,) = zonal_stats_array([box], HAND, HAND_T, nodata=NODATA, stats="count mean")
    assert pc == {"count": 1, "mean": 10.0}


# ---------------------------------------------------------------------------------------------
# Pixel-centre statistics == rasterstats
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stat", sorted(STATS))
def test_each_stat_matches_rasterstats(stat):
    rng = np.random.default_rng(11)
    arr = _raster(rng)
    geoms = _plots(rng)
    mine = zonal_stats_array(geoms, arr, T, nodata=NODATA, stats=[stat])
    ref = rasterstats.zonal_stats(geoms, arr, affine=T, nodata=NODATA, stats=[stat])
    _assert_same(mine, ref, [stat])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16])
def test_matches_rasterstats_with_nodata_nan_and_edges(dtype):
    rng = np.random.default_rng(7)
    arr = _raster(rng, dtype=dtype)
    geoms = _plots(rng, n=80)
    names = ["count", "min", "max", "mean", "median", "std", "sum", "p90", "p10", "p2.5"]
    mine = zonal_stats_array(geoms, arr, T, nodata=NODATA, stats=names[:-3],
                             percentiles=[90, 10, 2.5])
    ref = rasterstats.zonal_stats(geoms, arr, affine=T, nodata=NODATA,
                                  stats=[_rs_name(n) for n in names])
    _assert_same(mine, ref, names, {n: _rs_name(n) for n in names})
    assert mine[-3]["count"] == 0 and mine[-3]["mean"] is None  # outside
    assert mine[-2]["count"] == 0 and mine[-2]["p90"] is None  # only nodata
    assert 0 < mine[-1]["count"] < np.pi * 36  # half outside


def test_pixel_masks_equal_gdal_rasterize_on_pixel_centre_lattice():
    """Vertices on the half-pixel lattice put edges exactly on pixel centres (every tie)."""
    rng = np.random.default_rng(5)
    shape = (12, 12)
    transforms = [Affine(1, 0, 0, 0, -1, 12), Affine(0.5, 0, 3, 0, -0.5, 9),
                  Affine(-1, 0, 12, 0, 1, 0), Affine(2, 0, 300, 0, -2, 900)]
    for t in transforms:
        geoms = []
        while len(geoms) < 150:
            pts = rng.integers(-4, 28, (rng.integers(3, 7), 2)) / 2
            g = shapely.Polygon([t @ tuple(p) for p in pts])  # often self-intersecting
            if g.area > 0:
                geoms.append(g.buffer(0) if len(geoms) % 3 == 0 and g.buffer(0).area > 0 else g)
        plot, row, col = pixel_centre_samples(np.array(geoms, dtype=object), t, shape)
        for i, g in enumerate(geoms):
            ref = features.rasterize([(g, 1)], out_shape=shape, transform=t, fill=0,
                                     dtype="uint8").astype(bool)
            mine = np.zeros(shape, dtype=bool)
            mine[row[plot == i], col[plot == i]] = True
            np.testing.assert_array_equal(mine, ref, err_msg=f"{tuple(t)[:6]} {g.wkt}")


def test_holes_and_multipolygons_match_rasterstats():
    rng = np.random.default_rng(3)
    arr = _raster(rng)
    c = shapely.Point(*(T @ (80.3, 60.7)))
    ring = c.buffer(20).difference(c.buffer(8))
    multi = shapely.MultiPolygon([shapely.Point(*(T @ (20.2, 20.9))).buffer(7),
                                  shapely.Point(*(T @ (140.6, 100.1))).buffer(9)])
    geoms = [ring, multi]
    names = ["count", "mean", "median", "max"]
    mine = zonal_stats_array(geoms, arr, T, nodata=NODATA, stats=names)
    ref = rasterstats.zonal_stats(geoms, arr, affine=T, nodata=NODATA, stats=names)
    _assert_same(mine, ref, names)


def test_categorical_matches_rasterstats():
    rng = np.random.default_rng(9)
    classes = rng.integers(1, 5, (80, 90)).astype(np.uint8)
    classes[rng.random(classes.shape) < 0.1] = 0
    t = Affine(2.0, 0, 500000.0, 0, -2.0, 4100000.0)
    geoms = _plots(rng, shape=(80, 90), n=50, transform=t)
    geoms = [g.buffer(-4) if g.area > 200 else g for g in geoms]  # smaller plots -> ties
    mine = zonal_stats_array(geoms, classes, t, nodata=0, stats=["count"], categorical=True)
    ref = rasterstats.zonal_stats(geoms, classes, affine=t, nodata=0, categorical=True,
                                  stats=["count", "majority"])
    for i, (a, b) in enumerate(zip(mine, ref)):
        assert a["count"] == b["count"], i
        if b["count"] == 0:
            assert a["majority"] is None and all(a[f"frac_{k}"] is None for k in range(1, 5))
            continue
        assert a["majority"] == b["majority"], i  # ties: smallest class, as rasterstats
        for k in range(1, 5):
            assert a[f"frac_{k}"] == pytest.approx(b.get(k, 0) / b["count"], abs=1e-12)
    assert [k for k in mine[0] if k.startswith("frac_")] == ["frac_1", "frac_2", "frac_3",
                                                            "frac_4"]


def test_raster_out_values_match_rasterstats():
    rng = np.random.default_rng(4)
    arr = _raster(rng)
    geoms = _plots(rng, n=10)
    mine = zonal_stats_array(geoms, arr, T, nodata=NODATA, stats=["count"], raster_out=True)
    ref = rasterstats.zonal_stats(geoms, arr, affine=T, nodata=NODATA, stats=["count"],
                                  raster_out=True)
    for a, b in zip(mine, ref):
        np.testing.assert_array_equal(np.sort(a["mini_raster_array"].compressed()),
                                      np.sort(b["mini_raster_array"].compressed()))
        assert a["mini_raster_array"].count() == a["count"]


# ---------------------------------------------------------------------------------------------
# Exact (coverage-weighted) statistics == exactextract
# ---------------------------------------------------------------------------------------------


def _exactextract(geoms, arr, t, nodata, ops):
    h, w = arr.shape
    wkt = CRS(EPSG).to_wkt()
    src = NumPyRasterSource(arr, t.c, t.f + h * t.e, t.c + w * t.a, t.f, nodata=nodata,
                            srs_wkt=wkt)
    gdf = gpd.GeoDataFrame(geometry=geoms, crs=EPSG)
    return exact_extract(src, gdf, ops, output="pandas")


def test_exact_matches_exactextract():
    rng = np.random.default_rng(21)
    arr = _raster(rng)
    geoms = _plots(rng, n=60)
    names = ["count", "min", "max", "mean", "median", "std", "sum", "p90", "p25"]
    mine = zonal_stats_array(geoms, arr, T, nodata=NODATA, stats=names, exact=True)
    ops = ["count", "min", "max", "mean", "median", "stdev", "sum", "quantile(q=0.9)",
           "quantile(q=0.25)"]
    ref = _exactextract(geoms, arr, T, NODATA, ops).to_dict("records")
    rename = {"std": "stdev", "p90": "quantile_90", "p25": "quantile_25"}
    # exactextract reports sum 0 where aopflow (like rasterstats) reports None: no pixels
    empty = [i for i, r in enumerate(ref) if r["count"] == 0]
    assert len(empty) >= 2 and all(mine[i]["sum"] is None for i in empty)
    for i in empty:
        ref[i]["sum"] = None
    _assert_same(mine, ref, names, {n: rename.get(n, n) for n in names})
    assert mine[-3]["count"] == 0.0 and mine[-3]["median"] is None


def test_exact_categorical_matches_exactextract():
    rng = np.random.default_rng(22)
    classes = rng.integers(1, 4, (60, 70)).astype(np.int32)
    classes[rng.random(classes.shape) < 0.1] = 0
    geoms = _plots(rng, shape=(60, 70), n=40)
    mine = zonal_stats_array(geoms, classes, T, nodata=0, stats=["count"], categorical=True,
                             exact=True)
    ref = _exactextract(geoms, classes, T, 0, ["unique", "frac", "majority"])
    for i, a in enumerate(mine):
        present = dict(zip(ref["unique"][i], ref["frac"][i]))
        if not present:
            assert a["count"] == 0 and a["majority"] is None
            continue
        assert a["majority"] == ref["majority"][i], i
        for k in range(1, 4):
            assert a[f"frac_{k}"] == pytest.approx(present.get(k, 0.0), abs=1e-6), (i, k)


# ---------------------------------------------------------------------------------------------
# Statistic names, warnings, geometry checks
# ---------------------------------------------------------------------------------------------


def test_parse_stats_and_errors():
    assert parse_stats("count mean p90", [95, 2.5, 90]) == ["count", "mean", "p90", "p95",
                                                           "p2.5"]
    with pytest.raises(ConfigError, match=r"Unknown statistic 'mode' for zonal.stats"):
        parse_stats(["mode"])
    with pytest.raises(ConfigError, match="above 100"):
        parse_stats(["p101"])
    with pytest.raises(ConfigError, match="zonal.percentiles"):
        parse_stats([], [150])


def test_plot_without_pixels_is_kept_and_logged(caplog):
    arr = np.ones((10, 10))
    geoms = [shapely.Point(*(T @ (5, 5))).buffer(3), shapely.Point(*(T @ (50, 50))).buffer(3)]
    with caplog.at_level(logging.WARNING, logger="aopflow.zonal.stats"):
        out = zonal_stats_array(geoms, arr, T, stats=["count", "mean", "p90"])
    assert out[1] == {"count": 0, "mean": None, "p90": None}
    assert out[0]["count"] > 0
    assert "1 of 2 plots have no valid pixel" in caplog.text and "#1" in caplog.text


def test_categorical_on_continuous_raster_is_rejected():
    arr = np.random.default_rng(0).random((60, 60))
    with pytest.raises(InputDataError, match="meant for class maps"):
        zonal_stats_array([shapely.box(*(T @ (0, 60)), *(T @ (60, 0)))], arr, T,
                          stats=["count"], categorical=True)


def test_non_polygon_geometry_is_rejected():
    with pytest.raises(InputDataError, match="Buffer points"):
        zonal_stats_array([shapely.Point(500001, 4099999)], np.ones((3, 3)), T, stats=["count"])


# ---------------------------------------------------------------------------------------------
# read_plots: formats, reprojection, errors
# ---------------------------------------------------------------------------------------------

CENTRES = [(500010.5, 4099990.25), (500050.0, 4099950.0), (500090.75, 4099915.5)]


def _points_gdf(crs=EPSG):
    gdf = gpd.GeoDataFrame({"plotID": ["P1", "P2", "P3"], "site": ["DEMO"] * 3,
                            "nlcd": [41, 42, 43]},
                           geometry=shapely.points(CENTRES), crs=EPSG)
    return gdf.to_crs(crs)


@pytest.mark.parametrize("suffix", [".gpkg", ".shp", ".geojson", ".csv"])
def test_read_plots_each_format(tmp_path, suffix):
    path = tmp_path / f"plots{suffix}"
    gdf = _points_gdf()
    if suffix == ".csv":
        df = pd.DataFrame(gdf.drop(columns="geometry"))
        df["easting"], df["northing"] = gdf.geometry.x, gdf.geometry.y
        df.to_csv(path, index=False)
        plots = read_plots(path, id_column="plotID", crs=EPSG, x_column="easting",
                           y_column="northing", target_crs=EPSG)
        assert {"easting", "northing"} <= set(plots.columns)
    else:
        gdf.to_file(path)
        plots = read_plots(path, id_column="plotID", target_crs=EPSG)
    assert plots.crs == CRS(EPSG)
    assert plots["plotID"].tolist() == ["P1", "P2", "P3"]
    assert plots["nlcd"].tolist() == [41, 42, 43] and plots["site"].tolist() == ["DEMO"] * 3
    expected = shapely.buffer(shapely.points(CENTRES), 20.0, quad_segs=16)
    for got, exp in zip(plots.geometry, expected):
        assert got.geom_type == "Polygon"
        assert shapely.equals_exact(got, exp, tolerance=1e-6)


def test_read_plots_reprojects_then_buffers_in_metres(tmp_path):
    path = tmp_path / "plots.geojson"
    _points_gdf("EPSG:4326").to_file(path)
    plots = read_plots(path, id_column="plotID", buffer_m=15, target_crs=EPSG)
    back = Transformer.from_crs("EPSG:4326", EPSG, always_xy=True)
    ll = _points_gdf("EPSG:4326").geometry
    for got, p in zip(plots.geometry, ll):
        cx, cy = back.transform(p.x, p.y)
        assert got.centroid.distance(shapely.Point(cx, cy)) < 1e-3
        assert got.area == pytest.approx(shapely.Point(0, 0).buffer(15, quad_segs=16).area,
                                         rel=1e-9)


def test_read_plots_keeps_polygons_and_reprojects_them(tmp_path):
    squares = gpd.GeoDataFrame({"plotID": ["A", "B"]},
                               geometry=[shapely.box(500000, 4099960, 500040, 4100000),
                                         shapely.box(500100, 4099900, 500120, 4099920)],
                               crs=EPSG)
    path = tmp_path / "squares.gpkg"
    squares.to_crs("EPSG:32612").to_file(path)
    plots = read_plots(path, id_column="plotID", buffer_m=20, target_crs=EPSG)
    for got, exp in zip(plots.geometry, squares.geometry):
        assert got.geom_type == "Polygon"
        assert got.symmetric_difference(exp).area < 1e-3  # not buffered; reprojected back


def _csv(tmp_path, text, name="plots.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_read_plots_errors(tmp_path):
    kw = {"id_column": "plotID", "crs": EPSG, "target_crs": EPSG}
    good = "plotID,x,y\nP1,500010,4099990\n"
    with pytest.raises(InputDataError, match="set zonal.plots_crs"):
        read_plots(_csv(tmp_path, good), id_column="plotID", target_crs=EPSG)
    with pytest.raises(InputDataError, match="has no features"):
        read_plots(_csv(tmp_path, "plotID,x,y\n", "empty.csv"), **kw)
    with pytest.raises(InputDataError, match=r"no id column 'plotID'.*\['name', 'x', 'y'\]"):
        read_plots(_csv(tmp_path, "name,x,y\nP1,1,2\n", "noid.csv"), **kw)
    with pytest.raises(InputDataError, match=r"duplicate 'plotID' values: \['P1'\]"):
        read_plots(_csv(tmp_path, good + "P1,500020,4099980\nP2,1,1\n", "dup.csv"), **kw)
    with pytest.raises(InputDataError, match=r"empty or null geometry for plot\(s\) \['P2'\]"):
        read_plots(_csv(tmp_path, good + "P2,,4099980\n", "null.csv"), **kw)
    with pytest.raises(InputDataError, match="lacks coordinate column"):
        read_plots(_csv(tmp_path, "plotID,lon\nP1,1\n", "nocoord.csv"), **kw)
    with pytest.raises(InputDataError, match="non-numeric"):
        read_plots(_csv(tmp_path, "plotID,x,y\nP1,abc,1\n", "text.csv"), **kw)
    with pytest.raises(InputDataError, match="unsupported suffix"):
        read_plots(_csv(tmp_path, good, "plots.xlsx"), **kw)
    with pytest.raises(InputDataError, match="does not exist"):
        read_plots(tmp_path / "missing.gpkg", **kw)
    with pytest.raises(ConfigError, match="zonal.buffer_m"):
        read_plots(_csv(tmp_path, good, "b.csv"), buffer_m=0, **kw)
    with pytest.raises(InputDataError, match="not a projected CRS in metres"):
        read_plots(_csv(tmp_path, good, "g.csv"), id_column="plotID", crs=EPSG,
                   target_crs="EPSG:4326")


def test_read_plots_vector_errors(tmp_path):
    empty = gpd.GeoDataFrame({"plotID": pd.Series([], dtype=str)}, geometry=[], crs=EPSG)
    empty.to_file(tmp_path / "empty.gpkg")
    with pytest.raises(InputDataError, match="empty.gpkg has no features"):
        read_plots(tmp_path / "empty.gpkg", id_column="plotID", target_crs=EPSG)
    gdf = gpd.GeoDataFrame({"plotID": ["A", "B"]},
                           geometry=[shapely.Point(500010, 4099990), shapely.Polygon()],
                           crs=EPSG)
    gdf.to_file(tmp_path / "nullgeom.gpkg")
    with pytest.raises(InputDataError, match=r"nullgeom.gpkg has empty or null geometry.*'B'"):
        read_plots(tmp_path / "nullgeom.gpkg", id_column="plotID", target_crs=EPSG)
    lines = gpd.GeoDataFrame({"plotID": ["L"]},
                             geometry=[shapely.LineString([(500000, 4099990),
                                                           (500010, 4099990)])], crs=EPSG)
    lines.to_file(tmp_path / "lines.geojson")
    with pytest.raises(InputDataError, match="LineString"):
        read_plots(tmp_path / "lines.geojson", id_column="plotID", target_crs=EPSG)
    _points_gdf().to_file(tmp_path / "p.gpkg")
    with pytest.raises(InputDataError, match=r"no id column 'plot_id'.*'plotID'"):
        read_plots(tmp_path / "p.gpkg", id_column="plot_id", target_crs=EPSG)


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------



def test_zonal_stats_file_windows_bands_and_reprojection(write_tif, tmp_path, monkeypatch):
    monkeypatch.setattr("aopflow.zonal.stats.READ_BYTES", 1)  # one band per read
    rng = np.random.default_rng(31)
    bands = np.stack([_raster(rng, (200, 240)), _raster(rng, (200, 240))])
    tif = write_tif(tmp_path / "chm.tif", bands, transform=T, nodata=NODATA, crs=EPSG)
    geoms = _plots(rng, shape=(200, 240), n=70)
    plots = gpd.GeoDataFrame({"plotID": [f"P{i}" for i in range(len(geoms))]},
                             geometry=geoms, crs=EPSG)
    names = ["count", "mean", "median", "p90"]
    # plots handed over in another CRS come back in the raster CRS with the same numbers
    out = zonal_stats_file(plots.to_crs("EPSG:4326"), tif, band=None, stats=names[:3],
                           percentiles=[90], window_size=48, id_column="plotID")
    assert out.crs == CRS(EPSG)
    for b in (1, 2):
        ref = zonal_stats_array(geoms, bands[b - 1], T, nodata=NODATA, stats=names)
        for n in names:
            exp = np.array([np.nan if r[n] is None else r[n] for r in ref], dtype=float)
            # the round trip through EPSG:4326 moves vertices by ~1e-9 m: no pixel changes
            np.testing.assert_allclose(out[f"b{b}_{n}"].to_numpy(float), exp, rtol=1e-12)
    single = zonal_stats_file(plots, tif, band=2, stats=["mean"])
    np.testing.assert_array_equal(single["mean"].to_numpy(), out["b2_mean"].to_numpy())
    assert out["b1_count"].dtype.kind == "i" and out["plotID"].tolist() == plots["plotID"].tolist()
    windows = plot_windows(np.array(geoms, dtype=object), T, (200, 240), 48)
    assert len(windows) > 4  # several windows, none near the raster size
    assert all(r1 - r0 <= 48 + 26 and c1 - c0 <= 48 + 26 for (r0, r1, c0, c1), _ in windows)


def test_zonal_stats_file_zero_is_nodata_and_bad_band(write_tif, tmp_path):
    chm = np.zeros((40, 40), dtype=np.float32)
    chm[10:20, 10:20] = 12.0
    tif = write_tif(tmp_path / "chm.tif", chm, nodata=None, transform=T, crs=EPSG)
    plots = gpd.GeoDataFrame({"plotID": ["A"]},
                             geometry=[shapely.box(*(T @ (5, 25)), *(T @ (25, 5)))], crs=EPSG)
    with_zeros = zonal_stats_file(plots, tif, stats=["count", "mean"])
    no_zeros = zonal_stats_file(plots, tif, stats=["count", "mean"], zero_is_nodata=True)
    assert with_zeros["count"][0] == 400 and with_zeros["mean"][0] == pytest.approx(3.0)
    assert no_zeros["count"][0] == 100 and no_zeros["mean"][0] == pytest.approx(12.0)
    with pytest.raises(ConfigError, match=r"Band\(s\) \[3\] in zonal.band"):
        zonal_stats_file(plots, tif, band=3, stats=["mean"])


def test_write_zonal_and_plot_arrays_round_trip(write_tif, tmp_path):
    rng = np.random.default_rng(41)
    arr = _raster(rng).astype(np.float32)
    tif = write_tif(tmp_path / "chm.tif", arr, transform=T, nodata=NODATA, crs=EPSG)
    geoms = _plots(rng, n=8)
    plots = gpd.GeoDataFrame({"plotID": [f"P{i}" for i in range(len(geoms))],
                              "note": ["x"] * len(geoms)}, geometry=geoms, crs=EPSG)
    out = zonal_stats_file(plots, tif, stats=["count", "mean", "median"], percentiles=[90])
    write_zonal(out, tmp_path / "z.gpkg", tmp_path / "z.csv")
    back = gpd.read_file(tmp_path / "z.gpkg")
    assert list(back.columns) == ["plotID", "note", "count", "mean", "median", "p90",
                                  "geometry"]
    assert back.crs == CRS(EPSG) and back.geometry.geom_type.eq("Polygon").all()
    np.testing.assert_allclose(back["p90"], out["p90"])
    csv = pd.read_csv(tmp_path / "z.csv")
    assert "geometry" not in csv.columns and csv["plotID"].tolist() == out["plotID"].tolist()
    assert np.isnan(csv["mean"].iloc[-3]) and csv["count"].iloc[-3] == 0
    assert not list(tmp_path.glob(".*part*"))  # no temporary files left

    arrays = plot_arrays_file(plots, tif, id_column="plotID")
    write_plot_arrays(tmp_path / "arrays.npz", arrays)
    with np.load(tmp_path / "arrays.npz") as npz:
        assert sorted(npz.files) == sorted(plots["plotID"])
        for pid, cnt, mean in zip(out["plotID"], out["count"], out["mean"]):
            v = npz[pid]
            assert np.isfinite(v).sum() == cnt
            if cnt:
                assert np.nanmean(v.astype(float)) == pytest.approx(mean, rel=1e-6)


def test_figures_write_pngs(tmp_path):
    table = pd.DataFrame({"plotID": ["A", "B", "C"], "mean": [3.0, np.nan, 7.5]})
    plot_zonal_bars(table, tmp_path / "bars.png", stat="mean", id_column="plotID", units="m")
    arrays = {"A": np.ma.MaskedArray([1.0, 2.0, 3.0], mask=[False, False, True]),
              "B": np.array([np.nan]), "C": np.arange(10.0)}
    plot_zonal_histograms(arrays, tmp_path / "hist.png", units="m")
    for name in ("bars.png", "hist.png"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    with pytest.raises(ConfigError, match=r"\['p95'\].*available columns"):
        plot_zonal_bars(table, tmp_path / "x.png", stat="p95", id_column="plotID")
