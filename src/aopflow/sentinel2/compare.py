"""AOP versus Sentinel-2 NDVI on one grid and at plots.

The AOP NDVI mosaic (``mosaic/ndvi.tif``, AOP pixel size, e.g. 1 m) is aggregated onto the grid
of the Sentinel-2 NDVI (the site grid, e.g. 10 m) by block mean with
:func:`aopflow.aggregate.block_aggregate`. The Sentinel-2 site grid has its edges on the
AOP 1 km tile grid and a pixel size that is a whole number of AOP pixels, so every Sentinel-2
pixel is exactly a block of AOP pixels: no resampling. A block with fewer than
``sentinel2.compare_min_aop_fraction`` valid AOP pixels is no data.

The Sentinel-2 date compared is ``sentinel2.compare_date`` or, by default, the used date
nearest the AOP flight date (the most frequent date of the ``Acqusition_Date`` ancillary layer
over the valid pixels of the site's tiles, read with :class:`aopflow.neon.reader.NeonTile`;
ties go to the earlier date).

Both NDVI rasters follow the project's NDVI rule (:mod:`aopflow.ndvi`: no data where red or NIR
is negative or both are zero, so values in [-1, 1]); a raster with a value outside [-1, 1] (made
before that rule) is refused with an error that says to remake it. A block mean of values in
[-1, 1] stays in [-1, 1].

Statistics over the pixels valid in both (:func:`fit_stats`): ordinary least squares of
Sentinel-2 NDVI (y) on AOP NDVI (x): ``slope``, ``intercept``, ``r2`` (squared Pearson
correlation), ``rmse`` = sqrt(mean((y - x)^2)) and ``bias`` = mean(y - x), both about the 1:1
line, and ``n``. :func:`shift_scan` repeats the fit with the AOP block grid moved by one
Sentinel-2 pixel in each direction: on registered grids r² peaks at no shift (the table's
``best_shift`` column says where it peaks, and a warning is logged when it is not 0,0).

On the demo site (both sensors generated from the same materials and abundances,
:mod:`aopflow.demo.aop` and :mod:`aopflow.demo.sentinel2`) the relation is known. The AOP NDVI
uses the narrow bands nearest 660 and 860 nm; Sentinel-2 averages the same spectra over the B04
and B08 responses, and its vegetation spectrum follows the greenness curve (0.978 on
2024-06-15, 0.994 on 2024-08-04; the AOP vegetation is fully green). Pure materials map AOP to
Sentinel-2 NDVI as vegetation 0.848 -> 0.796, dry vegetation 0.211 -> 0.189, soil 0.125 ->
0.112, built 0.037 -> 0.033, water -0.545 -> -0.477, i.e. about 0.9 x: slope about 0.9,
intercept about 0, bias about -0.1 x the mean NDVI (-0.02 on the demo site), and r² about 0.97
(sensor noise on dark pixels, mostly water). The demo AOP flight lines are dated 2024-06-11,
-12 and 2024-07-13; the most frequent is 06-11, so the nearest used Sentinel-2 date is
2024-06-15. ``tests/test_s2_products_demo.py`` checks the statistics against this prediction.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.windows import Window

from aopflow.errors import ConfigError, InputDataError
from aopflow.io import write_png
from aopflow.ndvi import check_ndvi_range
from aopflow.sentinel2.dates import parse_date
from aopflow.aggregate import block_aggregate, downscale_factor

log = logging.getLogger(__name__)

#: Columns of ``tables/aop_vs_s2.csv`` (one row), in order.
FIT_COLUMNS = ("n", "slope", "intercept", "r2", "rmse", "bias")

#: Working-memory budget (bytes) of one window of AOP pixels in :func:`aop_on_grid`.
WINDOW_BYTES = 128 * 2**20


def fit_stats(aop: np.ndarray, s2: np.ndarray) -> dict[str, float]:
    """Agreement of Sentinel-2 (y) with AOP (x) over the pairs where both are finite.

    Args:
        aop, s2: arrays of one shape (any), NDVI (unitless); NaN = no data.

    Returns:
        ``n`` (int) and float64 ``slope``, ``intercept``, ``r2``, ``rmse``, ``bias``; with fewer
        than 3 pairs or no spread in x, the fit values are NaN (``rmse``/``bias`` need 1 pair).
    """
    x = np.asarray(aop, dtype=np.float64).ravel()
    y = np.asarray(s2, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise InputDataError(f"AOP and Sentinel-2 arrays differ in size: {x.size} vs {y.size}.")
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    n = int(x.size)
    out = {"n": n, "slope": math.nan, "intercept": math.nan, "r2": math.nan,
           "rmse": math.nan, "bias": math.nan}
    if n >= 1:
        d = y - x
        out["rmse"] = float(np.sqrt(np.mean(d * d)))
        out["bias"] = float(np.mean(d))
    if n >= 3:
        xm, ym = x.mean(), y.mean()
        sxx = float(np.sum((x - xm) ** 2))
        syy = float(np.sum((y - ym) ** 2))
        sxy = float(np.sum((x - xm) * (y - ym)))
        if sxx > 0:
            out["slope"] = sxy / sxx
            out["intercept"] = float(ym - out["slope"] * xm)
            out["r2"] = sxy * sxy / (sxx * syy) if syy > 0 else math.nan
    return out


def _grid_offsets(aop, crs, transform: Affine, path: Path) -> tuple[int, int, int, int]:
    """(fy, fx, row0, col0): block factors and the AOP pixel of the grid's upper-left corner."""
    ta = aop.transform
    if crs is None or aop.crs is None or aop.crs != crs:
        raise InputDataError(
            f"AOP NDVI {path} is in {aop.crs} but the Sentinel-2 site grid is in {crs}; the "
            f"Sentinel-2 stage loads scenes onto the AOP site's CRS, so rerun it for this site.")
    if ta.b or ta.d or transform.b or transform.d or ta.e >= 0 or transform.e >= 0:
        raise InputDataError(f"AOP NDVI {path} or the Sentinel-2 grid is not north-up.")
    fx = downscale_factor(abs(ta.a), abs(transform.a))
    fy = downscale_factor(abs(ta.e), abs(transform.e))
    col0 = (transform.c - ta.c) / ta.a
    row0 = (transform.f - ta.f) / ta.e
    if not (math.isclose(col0, round(col0), abs_tol=1e-6)
            and math.isclose(row0, round(row0), abs_tol=1e-6)):
        raise InputDataError(
            f"The Sentinel-2 grid's corner ({transform.c}, {transform.f}) is not on an AOP pixel "
            f"edge of {path} (offset {col0:.4f}, {row0:.4f} AOP pixels); the site grid's edges "
            f"must lie on the AOP tile grid.")
    return fy, fx, int(round(row0)), int(round(col0))


def aop_on_grid(
    aop_path: str | os.PathLike,
    *,
    crs,
    transform: Affine,
    shape: tuple[int, int],
    min_valid_fraction: float = 0.5,
    window_rows: int | None = None,
    band: int = 1,
    ndvi: bool = True,
) -> np.ndarray:
    """Block mean of the AOP NDVI mosaic (or band ``band`` of another AOP mosaic, with
    ``ndvi=False``: no NDVI range check) on a coarser grid aligned with it.

    Args:
        aop_path: AOP NDVI GeoTIFF (1 band, any float/int dtype, nodata/NaN masked; values
            in [-1, 1], else InputDataError: see :mod:`aopflow.ndvi`).
        crs, transform, shape: the target grid (``(rows, cols)``); its pixel size a whole
            multiple of the AOP pixel size and its corner on an AOP pixel edge.
        min_valid_fraction: a block needs at least this fraction of valid AOP pixels (AOP
            pixels outside the mosaic count as invalid).
        window_rows: target rows per window (default: within :data:`WINDOW_BYTES`).

    Returns:
        ``(rows, cols)`` float32, NaN where no data.
    """
    aop_path = Path(aop_path)
    from rasterio.errors import RasterioIOError

    try:
        src = rasterio.open(aop_path)
    except RasterioIOError as err:
        raise InputDataError(f"Cannot open the AOP NDVI mosaic {aop_path}: {err}") from err
    rows, cols = shape
    out = np.full((rows, cols), np.nan, dtype=np.float32)
    with src:
        fy, fx, row0, col0 = _grid_offsets(src, crs, transform, aop_path)
        if window_rows is None:
            window_rows = max(1, WINDOW_BYTES // max(1, fy * cols * fx * 4 * 6))
        nodata = src.nodata
        for r in range(0, rows, window_rows):
            nr = min(window_rows, rows - r)
            # AOP pixels of this block row, NaN-filled where the grid reaches past the mosaic.
            block = np.full((nr * fy, cols * fx), np.nan, dtype=np.float32)
            ar0, ac0 = row0 + r * fy, col0
            ar1, ac1 = ar0 + nr * fy, ac0 + cols * fx
            rr0, rr1 = max(ar0, 0), min(ar1, src.height)
            cc0, cc1 = max(ac0, 0), min(ac1, src.width)
            if rr1 > rr0 and cc1 > cc0:
                data = src.read(band, window=Window(cc0, rr0, cc1 - cc0, rr1 - rr0))
                vals = data.astype(np.float32)
                if nodata is not None and not math.isnan(nodata):
                    vals[data == nodata] = np.nan
                if ndvi:
                    check_ndvi_range(vals, f"AOP NDVI {aop_path}")
                block[rr0 - ar0:rr1 - ar0, cc0 - ac0:cc1 - ac0] = vals
            out[r:r + nr] = block_aggregate(block, (fy, fx), "mean", None,
                                            min_valid_fraction=min_valid_fraction)
    return out


def aop_flight_date(h5_paths: Sequence[str | os.PathLike]) -> tuple[str, dict[str, int]]:
    """The AOP acquisition date of a site: the most frequent ``Acqusition_Date`` over the valid
    pixels of its tiles (ties: earlier date).

    Returns:
        ``(date "YYYY-MM-DD", {date: pixel count})``.

    Raises:
        ConfigError: no tile has an acquisition-date layer (revision .001 tiles do not); the
            message says to set ``sentinel2.compare_date``.
    """
    from aopflow.neon.reader import NeonTile

    counts: collections.Counter = collections.Counter()
    without = []
    for p in h5_paths:
        with NeonTile(p, cache_mb=0) as tile:
            if not tile.has_layer("Acqusition_Date"):
                without.append(Path(p).name)
                continue
            arr, nodata = tile.read_layer("Acqusition_Date")
        # Dates are YYYYMMDD integers; no-data is 0 (or negative).
        values, n = np.unique(arr[arr > 0], return_counts=True)
        for v, k in zip(values.tolist(), n.tolist()):
            counts[int(v)] += int(k)
    if not counts:
        raise ConfigError(
            f"No AOP acquisition date: none of the {len(h5_paths)} tile(s) has an "
            f"Acqusition_Date layer with data ({', '.join(without[:3])}...; revision .001 tiles "
            f"carry none). Set sentinel2.compare_date to the Sentinel-2 date to compare "
            f"(YYYY-MM-DD).")
    by_date = {}
    for v, k in sorted(counts.items()):
        s = str(v)
        try:
            d = dt.date(int(s[:4]), int(s[4:6]), int(s[6:8])).isoformat()
        except ValueError:
            raise InputDataError(
                f"Acqusition_Date value {v} in the AOP tiles is not a date YYYYMMDD.") from None
        by_date[d] = by_date.get(d, 0) + k
    best = max(by_date.items(), key=lambda kv: (kv[1], -parse_date(kv[0], "").toordinal()))[0]
    return best, by_date


def choose_s2_date(used: Sequence[str], all_dates: Sequence[str], *,
                   aop_date: str | None, compare_date: str | None) -> str:
    """The Sentinel-2 date compared: ``compare_date`` (one of ``all_dates``) or the used date
    nearest ``aop_date`` (ties: the earlier)."""
    if compare_date:
        compare_date = str(compare_date)
        if compare_date not in all_dates:
            raise ConfigError(
                f"sentinel2.compare_date {compare_date} is not a Sentinel-2 date of this run; "
                f"dates are {', '.join(sorted(all_dates)) or 'none'}. Pick one of them or set it "
                f"to null (nearest to the AOP flight).")
        if compare_date not in used:
            log.warning("sentinel2.compare_date %s is below sentinel2.min_valid_fraction; "
                        "compared anyway, as configured.", compare_date)
        return compare_date
    if not used:
        raise InputDataError(
            "No used Sentinel-2 date to compare with AOP (none reaches "
            "sentinel2.min_valid_fraction); lower it or widen sentinel2.datetime.")
    t = parse_date(aop_date, "AOP flight date").toordinal()
    return min(sorted(used), key=lambda d: abs(parse_date(d, "S2 date").toordinal() - t))


def gap_days(s2_date: str, aop_date: str | None) -> float:
    """Sentinel-2 date minus AOP date, days (NaN without an AOP date)."""
    if not aop_date:
        return math.nan
    return float(parse_date(s2_date, "S2 date").toordinal()
                 - parse_date(aop_date, "AOP date").toordinal())


def _read_s2_ndvi(path) -> tuple[np.ndarray, object, Affine]:
    """(ndvi ``(rows, cols)`` float32 with NaN where no data, CRS, transform) of a Sentinel-2
    NDVI raster."""
    with rasterio.open(path) as src:
        s2 = src.read(1, out_dtype="float32")
        if src.nodata is not None and not math.isnan(src.nodata):
            s2[s2 == src.nodata] = np.nan
        check_ndvi_range(s2, f"Sentinel-2 NDVI {path}")
        return s2, src.crs, src.transform


def compare_grid(aop_path, s2_ndvi_path, *, min_valid_fraction: float = 0.5,
                 shift_pixels: tuple[int, int] = (0, 0)) -> tuple[np.ndarray, np.ndarray]:
    """AOP NDVI block means on the grid of ``s2_ndvi_path`` and the Sentinel-2 NDVI there.

    ``shift_pixels`` ``(rows, cols)`` moves the grid used for the AOP block means by whole
    Sentinel-2 pixels (a deliberate misregistration, for tests and diagnostics).

    Returns:
        ``(aop, s2)``: two ``(rows, cols)`` float32 arrays, NaN where no data.
    """
    s2, crs, transform = _read_s2_ndvi(s2_ndvi_path)
    dr, dc = shift_pixels
    grid = transform @ Affine.translation(dc, dr)
    aop = aop_on_grid(aop_path, crs=crs, transform=grid, shape=s2.shape,
                      min_valid_fraction=min_valid_fraction)
    return aop, s2


def shift_scan(aop_path, s2_ndvi_path, *, min_valid_fraction: float = 0.5,
               radius: int = 1) -> dict[tuple[int, int], float]:
    """r² of Sentinel-2 vs AOP NDVI with the AOP block grid shifted by ``(rows, cols)`` whole
    Sentinel-2 pixels, for every shift within ``radius`` (``(0, 0)`` included).

    A registration check: on aligned grids with spatial structure at the pixel scale, r² peaks
    at ``(0, 0)``. The AOP block means are computed once on the grid grown by ``radius``
    pixels on every side, and shifted by slicing.
    """
    s2, crs, transform = _read_s2_ndvi(s2_ndvi_path)
    rows, cols = s2.shape
    k = int(radius)
    big = aop_on_grid(aop_path, crs=crs, transform=transform @ Affine.translation(-k, -k),
                      shape=(rows + 2 * k, cols + 2 * k), min_valid_fraction=min_valid_fraction)
    out = {}
    for dr in range(-k, k + 1):
        for dc in range(-k, k + 1):
            aop = big[k + dr:k + dr + rows, k + dc:k + dc + cols]
            out[(dr, dc)] = fit_stats(aop, s2)["r2"]
    return out


def _fit_line(ax, fit: Mapping[str, float], lo: float, hi: float) -> None:
    """The OLS fit line (when there is one) over [lo, hi]; square axes on [lo, hi]."""
    if math.isfinite(fit["slope"]):
        ax.plot([lo, hi], [fit["intercept"] + fit["slope"] * lo,
                           fit["intercept"] + fit["slope"] * hi], "r-", lw=1.2,
                label=f"fit: y = {fit['slope']:.3f} x {fit['intercept']:+.3f}")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")


def plot_hexbin(aop: np.ndarray, s2: np.ndarray, fit: Mapping[str, float],
                png_path: str | os.PathLike, *, title: str, dpi: int = 110) -> None:
    """Hexbin density of (AOP, Sentinel-2) NDVI pairs with the 1:1 line and the OLS fit."""
    from matplotlib.figure import Figure

    x, y = np.asarray(aop, np.float64).ravel(), np.asarray(s2, np.float64).ravel()
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    fig = Figure(figsize=(6, 5.4))
    ax = fig.subplots()
    lo = float(min(x.min(), y.min(), 0.0)) if x.size else -0.2
    hi = float(max(x.max(), y.max(), 1.0)) if x.size else 1.0
    if x.size:
        hb = ax.hexbin(x, y, gridsize=50, extent=(lo, hi, lo, hi), mincnt=1, bins="log",
                       cmap="viridis")
        fig.colorbar(hb, ax=ax, label="pixels (log)")
    ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="1:1")
    _fit_line(ax, fit, lo, hi)
    ax.set_xlabel("AOP NDVI (block mean on the Sentinel-2 grid)")
    ax.set_ylabel("Sentinel-2 NDVI")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(f"{title}\nn={fit['n']}, r²={fit['r2']:.3f}, RMSE={fit['rmse']:.3f}, "
                 f"bias={fit['bias']:+.3f}", fontsize=9)
    fig.tight_layout()
    write_png(fig, png_path, dpi)


def plot_scatter_labelled(x: np.ndarray, y: np.ndarray, labels: Sequence[str],
                          fit: Mapping[str, float], png_path: str | os.PathLike, *,
                          title: str, dpi: int = 110) -> None:
    """Scatter of plot means (AOP x, Sentinel-2 y), each point labelled by its plot id."""
    from matplotlib.figure import Figure

    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    fig = Figure(figsize=(6, 5.4))
    ax = fig.subplots()
    vals = np.concatenate([x[ok], y[ok]]) if ok.any() else np.array([0.0, 1.0])
    lo, hi = float(min(vals.min(), 0.0)), float(max(vals.max(), 1.0))
    ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="1:1")
    ax.scatter(x[ok], y[ok], s=18, c="C0", zorder=3)
    for xi, yi, lab, good in zip(x, y, labels, ok):
        if good:
            ax.annotate(str(lab), (xi, yi), xytext=(3, 3), textcoords="offset points", fontsize=7)
    _fit_line(ax, fit, lo, hi)
    ax.set_xlabel("AOP NDVI (plot mean)")
    ax.set_ylabel("Sentinel-2 NDVI (plot mean)")
    ax.legend(loc="upper left", fontsize=8)
    left_out = int((~ok).sum())
    more = f", {left_out} plot(s) without data in one of them" if left_out else ""
    ax.set_title(f"{title}\nn={fit['n']}, r²={fit['r2']:.3f}, RMSE={fit['rmse']:.3f}, "
                 f"bias={fit['bias']:+.3f}{more}", fontsize=9)
    fig.tight_layout()
    write_png(fig, png_path, dpi)
