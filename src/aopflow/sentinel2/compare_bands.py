"""AOP versus Sentinel-2 per band and per index, with AOP seen two ways.

The AOP mosaic ``mosaic/s2_bands.tif`` holds, per Sentinel-2 asset of ``sentinel2.bands``, the
reflectance of the AOP band nearest the MSI band's centre (``nearest_{asset}``) and the
band-equivalent reflectance through the ESA spectral response of each sensor
(``srf_S2A_{asset}``, ``srf_S2B_{asset}``; :mod:`aopflow.indices.srf`). Both are block-averaged
onto the Sentinel-2 grid as the NDVI comparison does (:func:`aopflow.sentinel2.compare.aop_on_grid`)
and compared with the Sentinel-2 reflectance of the compared date; the ``srf`` layers used are
those of the sensor of that date's items (S2C through S2A's responses, see
:data:`aopflow.indices.srf.SRF_FALLBACK`).

Indices: the index of the block-mean AOP reflectances (``srf`` or ``nearest``) against the
index of the Sentinel-2 reflectance of the date, both by :func:`aopflow.indices.compute_index`
(so the Sentinel-2 side equals ``s2/dates/{date}/index_{NAME}.tif``). The index of the block
means, not the block mean of per-pixel indices: a Sentinel-2 pixel measures the block's mean
reflectance, and its index is of that.

One row per (quantity, name, aop_bands) with :data:`aopflow.sentinel2.compare.FIT_COLUMNS`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence

import numpy as np
import rasterio

from aopflow.errors import InputDataError
from aopflow.indices import compute_index, index_spec, s2_computable
from aopflow.indices.bandmap import s2_band_wavelengths
from aopflow.indices.srf import srf_sensor
from aopflow.io import write_png
from aopflow.sentinel2.compare import aop_on_grid, fit_stats

log = logging.getLogger(__name__)

#: Columns of ``tables/aop_vs_s2_bands.csv``, in order.
BAND_TABLE_COLUMNS = ("quantity", "name", "aop_bands", "sensor", "srf_of", "n", "slope",
                      "intercept", "r2", "rmse", "bias")
AOP_BANDS = ("srf", "nearest")


def _layer_index(path) -> dict[str, int]:
    with rasterio.open(path) as src:
        tags = src.tags()
        names = tags["layers"].split(",") if "layers" in tags else list(src.descriptions)
    return {n: i + 1 for i, n in enumerate(names)}


def read_s2_reflectance(path, assets: Sequence[str]):
    """({asset: (rows, cols) float32}, crs, transform) of a per-date reflectance raster."""
    with rasterio.open(path) as src:
        desc = list(src.descriptions)
        missing = [a for a in assets if a not in desc]
        if missing:
            raise InputDataError(f"{path}: no band(s) {missing} (bands {desc}); rerun the "
                                 f"Sentinel-2 stage with these sentinel2.bands.")
        return ({a: src.read(desc.index(a) + 1, out_dtype="float32") for a in assets},
                src.crs, src.transform)


def band_rows(
    aop_bands_path: str | os.PathLike,
    s2_reflectance_path: str | os.PathLike,
    *,
    assets: Sequence[str],
    sensor: str,
    indices: Sequence[str] = (),
    constants: Mapping[str, Mapping[str, float]] | None = None,
    min_valid_fraction: float = 0.5,
) -> list[dict]:
    """Rows of the per-band and per-index comparison (module docstring).

    Args:
        aop_bands_path: the AOP ``s2_bands`` mosaic.
        s2_reflectance_path: the compared date's reflectance (bands named by asset).
        assets: ``sentinel2.bands``.
        sensor: the date's sensor (S2A, S2B, S2C).
        indices: index names (those Sentinel-2's assets cannot give are skipped, logged).
        constants: ``index_constants``.
    """
    layers = _layer_index(aop_bands_path)
    s2, crs, transform = read_s2_reflectance(s2_reflectance_path, assets)
    shape = next(iter(s2.values())).shape
    use = srf_sensor(sensor)
    if use != sensor:
        log.warning("No SRF table for %s: compared through %s's responses.", sensor, use)
    aop: dict[str, dict[str, np.ndarray]] = {k: {} for k in AOP_BANDS}
    for asset in assets:
        for kind in AOP_BANDS:
            name = f"srf_{use}_{asset}" if kind == "srf" else f"nearest_{asset}"
            if name not in layers:
                raise InputDataError(f"{aop_bands_path} has no layer {name} (layers {sorted(layers)}); "
                                     f"it was made with other sentinel2.bands: rerun ndvi_tile.")
            aop[kind][asset] = aop_on_grid(aop_bands_path, crs=crs, transform=transform, shape=shape,
                                           min_valid_fraction=min_valid_fraction,
                                           band=layers[name], ndvi=False)
    rows = []
    base = {"sensor": sensor}
    for asset in assets:
        for kind in AOP_BANDS:
            rows.append({"quantity": "band", "name": asset, "aop_bands": kind, **base,
                         "srf_of": use if kind == "srf" else "",
                         **fit_stats(aop[kind][asset], s2[asset])})
    specs = [index_spec(n, (constants or {}).get(n)) for n in indices]
    ok, why = s2_computable(specs, assets)
    for name, reason in why.items():
        log.info("index %s not compared: %s", name, reason)
    for spec in specs:
        if spec.name not in ok:
            continue
        need = ok[spec.name]
        wl = s2_band_wavelengths(spec.bands)
        s2_idx = compute_index(spec, {s: s2[a] for s, a in need.items()}, wavelengths=wl)
        for kind in AOP_BANDS:
            a_idx = compute_index(spec, {s: aop[kind][a] for s, a in need.items()}, wavelengths=wl)
            rows.append({"quantity": "index", "name": spec.name, "aop_bands": kind, **base,
                         "srf_of": use if kind == "srf" else "", **fit_stats(a_idx, s2_idx)})
    return rows


def plot_r2(rows: Sequence[Mapping], png_path: str | os.PathLike, *, title: str, dpi: int = 110) -> None:
    """Grouped bars: r² of each band and index, AOP through the SRF vs the nearest band."""
    from matplotlib.figure import Figure

    names = []
    for r in rows:
        key = (r["quantity"], r["name"])
        if key not in names:
            names.append(key)
    fig = Figure(figsize=(max(5.0, 0.9 * len(names) + 2), 4.2))
    ax = fig.subplots()
    x = np.arange(len(names))
    for k, kind in enumerate(AOP_BANDS):
        vals = [next((float(r["r2"]) for r in rows if (r["quantity"], r["name"]) == key
                      and r["aop_bands"] == kind), np.nan) for key in names]
        ax.bar(x + (k - 0.5) * 0.38, vals, width=0.38, label=f"AOP {kind}")
    ax.set_xticks(x, [n for _, n in names], rotation=30, ha="right")
    ax.set_ylabel("r² (AOP block mean vs Sentinel-2)")
    lo = min([float(r["r2"]) for r in rows if np.isfinite(float(r["r2"]))] or [0.0])
    ax.set_ylim(max(0.0, lo - 0.05), 1.0)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    write_png(fig, png_path, dpi)
