"""Figures of site products (PNG, matplotlib Agg). Mosaics are read decimated, never whole."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import rasterio  # noqa: E402
from matplotlib.colors import BoundaryNorm, ListedColormap  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from aopflow.io import atomic_path  # noqa: E402
from aopflow.products import CLASS_COLORS, WQI_COLORS  # noqa: E402,F401  (also read by the site map)
from aopflow.raster import read_decimated  # noqa: E402

log = logging.getLogger(__name__)



def _save(fig, path):
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)
    return Path(path)


def _axes_km(ax, title):
    ax.set_title(title)
    ax.set_xlabel("Easting (m)")
    ax.set_ylabel("Northing (m)")
    ax.ticklabel_format(useOffset=False, style="plain")
    ax.tick_params(axis="x", labelrotation=30)


def wqi_class_counts(mosaic_path) -> dict[int, int]:
    """Pixels of each Weather Quality code in a WQI raster, read blockwise (all pixels).

    Returns ``{0: no data, 1: n, 2: n, 3: n}``; every value other than 1, 2 and 3 (the
    raster's no-data, 0, or a bogus value such as 241 from a wrapped -9999) counts as no data,
    so it never shows as a class.
    """
    counts = dict.fromkeys((0, *WQI_COLORS), 0)
    with rasterio.open(mosaic_path) as src:
        for _, win in src.block_windows(1):
            a = src.read(1, window=win)
            n_class = 0
            for code in WQI_COLORS:
                n = int(np.count_nonzero(a == code))
                counts[code] += n
                n_class += n
            counts[0] += a.size - n_class
    return counts


def wqi_figure(mosaic_path, png_path, title="Weather Quality Indicator"):
    """Stop-light map: 1 green (<10 % cloud), 2 yellow (10-50 %), 3 red (>50 %); the legend
    gives each class's share of the pixels with data (:func:`wqi_class_counts`). Values other
    than 1-3 are no data (transparent)."""
    counts = wqi_class_counts(mosaic_path)
    arr, ext, _, _ = read_decimated(mosaic_path)
    a = np.where(np.isin(arr[0], list(WQI_COLORS)), arr[0], np.nan).astype(float)
    cmap = ListedColormap([WQI_COLORS[k][0] for k in (1, 2, 3)])
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.imshow(a, extent=ext, cmap=cmap, norm=BoundaryNorm([0.5, 1.5, 2.5, 3.5], 3), interpolation="nearest")
    with_data = sum(counts[k] for k in WQI_COLORS)
    handles = [
        Patch(color=c, label=f"{k}: {lab} ({100 * counts[k] / max(with_data, 1):.1f} %)")
        for k, (c, lab) in WQI_COLORS.items()
    ]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), title="Cloud cover")
    _axes_km(ax, title)
    log.info("WQI pixels per class: %s", counts)
    return _save(fig, png_path)


def stretch(rgb: np.ndarray, pct: float = 2.0) -> np.ndarray:
    """Per-band percentile stretch of ``(3, rows, cols)`` to 0..1 (NaN-aware), ``(rows, cols, 3)``."""
    out = np.zeros(rgb.shape[1:] + (3,), dtype=float)
    for i in range(3):
        band = rgb[i].astype(float)
        valid = band[np.isfinite(band)]
        if valid.size == 0:
            continue
        lo, hi = np.percentile(valid, (pct, 100 - pct))
        out[..., i] = np.clip((band - lo) / max(hi - lo, 1e-12), 0, 1)
    alpha = np.all(np.isfinite(rgb), axis=0)
    return np.dstack([np.nan_to_num(out), alpha.astype(float)])


def rgb_figure(mosaic_path, png_path, pct: float = 2.0, title="RGB composite"):
    arr, ext, _, desc = read_decimated(mosaic_path)
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.imshow(stretch(arr, pct), extent=ext, interpolation="nearest")
    sub = ", ".join(d for d in desc if d) if any(desc) else ""
    _axes_km(ax, f"{title} ({pct:g}-{100 - pct:g} % stretch)\n{sub}")
    return _save(fig, png_path)


def endmember_figure(csv_path, png_path, names: Sequence[str] | None = None):
    import pandas as pd

    df = pd.read_csv(csv_path)
    wl = df["wavelength_nm"].to_numpy()
    # Break the lines where bands were removed (water-vapour windows) instead of bridging them.
    gap = np.flatnonzero(np.diff(wl) > 3 * np.median(np.diff(wl))) + 1
    wl_plot = np.insert(wl, gap, np.nan)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for i, col in enumerate(df.columns[1:]):
        ax.plot(wl_plot, np.insert(df[col].to_numpy(float), gap, np.nan), label=col, color=CLASS_COLORS[i % len(CLASS_COLORS)], lw=1.4)
    ax.set_xlabel("Wavelength (nm)")
    ax.set_ylabel("Reflectance")
    ax.set_title("Site endmember spectra")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.grid(alpha=0.3)
    return _save(fig, png_path)


def abundance_figure(mosaic_path, png_path):
    """One panel per endmember abundance (0..1)."""
    arr, ext, _, desc = read_decimated(mosaic_path)
    n = arr.shape[0]
    ncol = min(n, 3)
    nrow = math.ceil(n / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.8 * nrow), squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        if i >= n:
            ax.axis("off")
            continue
        im = ax.imshow(arr[i], extent=ext, vmin=0, vmax=1, cmap="viridis", interpolation="nearest")
        ax.set_title(desc[i] or f"endmember {i + 1}")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.8, label="abundance")
    return _save(fig, png_path)


def class_figure(mosaic_path, png_path, title: str, labels: Sequence[str]):
    """Class map (1..n classes, 0 unclassified, no-data transparent) with a legend."""
    arr, ext, nodata, _ = read_decimated(mosaic_path)
    a = arr[0].astype(float)
    if nodata is not None:
        a[arr[0] == nodata] = np.nan
    n = len(labels)
    colors = ["#ffffff"] + [CLASS_COLORS[i % len(CLASS_COLORS)] for i in range(n)]
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.imshow(a, extent=ext, cmap=ListedColormap(colors),
              norm=BoundaryNorm(np.arange(-0.5, n + 1.5), n + 1), interpolation="nearest")
    handles = [Patch(facecolor="#ffffff", edgecolor="k", label="0: unclassified")]
    handles += [Patch(color=colors[i + 1], label=f"{i + 1}: {lab}") for i, lab in enumerate(labels)]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), title="class")
    _axes_km(ax, title)
    return _save(fig, png_path)


def mean_abundance_table(mosaic_path, csv_path, png_path):
    """Mean/percentiles of each endmember's abundance over the site (blockwise, all pixels)."""
    import pandas as pd

    with rasterio.open(mosaic_path) as src:
        n = src.count
        names = [d or f"em{i + 1}" for i, d in enumerate(src.descriptions)]
        sums = np.zeros(n)
        counts = np.zeros(n)
        hists = np.zeros((n, 101))
        for _, win in src.block_windows(1):
            a = src.read(window=win).reshape(n, -1)
            for i in range(n):
                v = a[i][np.isfinite(a[i])]
                sums[i] += v.sum()
                counts[i] += v.size
                hists[i] += np.histogram(np.clip(v, 0, 1), bins=101, range=(0, 1))[0]

    def pct(h, q):
        c = np.cumsum(h)
        return float(np.searchsorted(c, q * c[-1]) / 100.0) if c[-1] else float("nan")

    df = pd.DataFrame({
        "endmember": names,
        "mean": sums / np.maximum(counts, 1),
        "p10": [pct(h, 0.1) for h in hists],
        "median": [pct(h, 0.5) for h in hists],
        "p90": [pct(h, 0.9) for h in hists],
        "pixels": counts.astype(int),
    })
    with atomic_path(csv_path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.4f")
    fig, ax = plt.subplots(figsize=(7, 0.5 + 0.4 * (n + 1)))
    ax.axis("off")
    cells = [[r.endmember, f"{r.mean:.3f}", f"{r.p10:.2f}", f"{r.median:.2f}", f"{r.p90:.2f}"]
             for r in df.itertuples()]
    t = ax.table(cellText=cells, colLabels=["endmember", "mean", "p10", "median", "p90"], loc="center")
    t.scale(1, 1.3)
    ax.set_title("Mean abundance per endmember (use to choose class thresholds)")
    _save(fig, png_path)
    return df


def continuous_figure(mosaic_path, png_path, title: str, label: str, cmap="RdYlGn", vmin=None, vmax=None,
                      percentiles: tuple[float, float] | None = None):
    """Single-band continuous map (e.g. NDVI) with a colour bar; no-data transparent.
    ``percentiles`` (e.g. (2, 98)): colour limits from the valid values' percentiles (for
    indices whose range is open, such as ratios), unless ``vmin``/``vmax`` are given."""
    arr, ext, nodata, _ = read_decimated(mosaic_path)
    a = arr[0].astype(float)
    if nodata is not None and not np.isnan(nodata):
        a[arr[0] == nodata] = np.nan
    if percentiles is not None and np.isfinite(a).any():
        lo, hi = np.nanpercentile(a, percentiles)
        vmin = lo if vmin is None else vmin
        vmax = hi if vmax is None else vmax
    fig, ax = plt.subplots(figsize=(7, 6))
    im = ax.imshow(a, extent=ext, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    fig.colorbar(im, ax=ax, shrink=0.8, label=label)
    _axes_km(ax, title)
    return _save(fig, png_path)


def class_labels_from_csv(endmembers_csv) -> list[str]:
    import pandas as pd

    return list(pd.read_csv(endmembers_csv, nrows=1).columns[1:])
