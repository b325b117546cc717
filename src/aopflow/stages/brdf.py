"""The BRDF stage: one site-wide fit from every tile's samples -> ``brdf/coefficients.json``
and a diagnostics figure. The correction itself is applied by the jobs that read reflectance
(:func:`aopflow.brdf.apply.attach`); the samples are drawn by the endmember sampling job
(:func:`aopflow.stages.spectral.sample_tile`, same read of each cube)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from aopflow.brdf.apply import correct_spectra, ndvi_of
from aopflow.brdf.fit import SampleSet, fit_model, merge_line_tables
from aopflow.brdf.model import BrdfModel, write_model
from aopflow.errors import SiteError
from aopflow.io import write_png
from aopflow.ndvi import NIR_NM, RED_NM

log = logging.getLogger(__name__)

#: Wavelengths (nm) of the diagnostics figure's curves.
FIGURE_NM = (550.0, 660.0, 850.0)


def load_samples(sample_paths: Sequence[str | os.PathLike]) -> SampleSet:
    """Pool the BRDF samples (``brdf_*`` arrays) of every tile's ``sample.npz``."""
    pix, geo, line, wqi, tables, wl = [], [], [], [], [], None
    for p in sample_paths:
        with np.load(p) as z:
            if "brdf_pixels" not in z.files:
                raise SiteError(f"{p}: no BRDF samples in this tile sample (drawn with brdf off?); rerun sample_tile.")
            if wl is None:
                wl = z["wavelengths"]
            elif z["wavelengths"].shape != wl.shape or np.max(np.abs(z["wavelengths"] - wl)) > 0.5:
                raise SiteError(f"{p}: the tile's kept bands differ from the first tile's; tiles of one site must share a band set.")
            pix.append(z["brdf_pixels"])
            geo.append(z["brdf_geometry"])
            line.append(z["brdf_line"])
            wqi.append(z["brdf_wqi"])
            tables.append((list(z["line_files"]), list(z["line_dates"]), z["line_sun"]))
    if wl is None:
        raise SiteError("brdf_fit: no tile samples (is the tile list empty?)")
    files, dates, sun, maps = merge_line_tables(tables)
    lines = []
    for ln, m in zip(line, maps):  # tile line index -> site line index
        out = np.full(ln.shape, -1, dtype=np.int64)
        out[ln >= 0] = m[ln[ln >= 0]]
        lines.append(out)
    return SampleSet(np.concatenate(pix), wl, np.concatenate(geo), np.concatenate(lines).astype(np.int64),
                     np.concatenate(wqi), files, dates, sun)


def brdf_fit(
    sample_paths: Sequence[str | os.PathLike],
    out_json: str | os.PathLike,
    figure_path: str | os.PathLike,
    *,
    group: str = "day",
    topo: bool = True,
    geometric: str = "li_sparse",
    ndvi_bins: int = 18,
    min_samples: int = 2000,
    solar_zenith: float | None = None,
    ndvi_min: float = 0.1,
    dark_nir: float = 0.05,
    max_slope: float = 40.0,
    wqi_max: int = 2,
    red_nm: float = RED_NM,
    nir_nm: float = NIR_NM,
    nonnegative: bool = True,
) -> Path:
    """Fit the site's model from its tiles' samples -> ``out_json`` and ``figure_path``."""
    s = load_samples(sample_paths)
    log.info("BRDF fit: %d samples from %d tiles, %d flight lines on %d days", s.line.size, len(sample_paths),
             len(s.line_files), len(set(s.line_dates)))
    model = fit_model(s, group_by=group, topo=topo, n_bins=ndvi_bins, min_samples=min_samples,
                      solar_zenith=solar_zenith, geometric=geometric, ndvi_min=ndvi_min, dark_nir=dark_nir,
                      max_slope=max_slope, wqi_max=wqi_max, red_nm=red_nm, nir_nm=nir_nm,
                      nonnegative=nonnegative)
    write_model(model, out_json)
    after = correct_spectra(model, s.pixels, s.wavelengths, s.geometry, s.line, list(zip(s.line_files, s.line_dates)))
    diagnostics_figure(model, s, after, figure_path)
    return Path(out_json)


def signed_view_zenith(view_zenith: np.ndarray, view_azimuth: np.ndarray) -> np.ndarray:
    """View zenith with a sign: negative when the sensor is west of the pixel (to-sensor
    azimuth 180-360), so a north-south line's swath runs from west (-) to east (+)."""
    return np.where(np.mod(view_azimuth, 360.0) >= 180.0, -view_zenith, view_zenith)


def diagnostics_figure(model: BrdfModel, s: SampleSet, after: np.ndarray, png_path) -> Path:
    """Mean reflectance at :data:`FIGURE_NM` of the samples with NDVI >= ``ndvi_min`` against
    signed view zenith (2-degree bins), one panel per group, before (dashed) and after (solid)
    the correction."""
    from matplotlib.figure import Figure

    names = list(model.groups)
    fig = Figure(figsize=(4.2 * len(names), 3.4), layout="constrained")
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    svz = signed_view_zenith(s.geometry[:, 2], s.geometry[:, 3])
    edges = np.arange(-20.0, 20.1, 2.0)
    mids = 0.5 * (edges[1:] + edges[:-1])
    red, nir = (int(np.abs(s.wavelengths - w).argmin()) for w in (model.red_nm, model.nir_nm))
    ndvi = ndvi_of(s.pixels, red, nir)
    # The population the BRDF part corrects (vegetated); water and built are left as they are.
    ndvi_ok = np.isfinite(s.pixels).all(axis=1) & (ndvi >= model.ndvi_min)
    line_group = np.array([model.lines[f].group for f in s.line_files]) if s.line_files else np.array([])
    colours = ("tab:green", "tab:red", "tab:purple")
    for ax, name in zip(axes, names):
        in_group = ndvi_ok & (s.line >= 0)
        if line_group.size:
            in_group &= line_group[np.clip(s.line, 0, None)] == name
        which = np.digitize(svz, edges) - 1
        for w, col in zip(FIGURE_NM, colours):
            b = int(np.abs(s.wavelengths - w).argmin())
            for data, style, label in ((s.pixels, "--", "before"), (after, "-", "after")):
                means = [np.nanmean(data[in_group & (which == k), b]) if np.any(in_group & (which == k)) else np.nan
                         for k in range(mids.size)]
                ax.plot(mids, means, style, color=col, label=f"{s.wavelengths[b]:.0f} nm {label}")
        ax.set_title(f"group {name}")
        ax.set_xlabel("view zenith (deg, - west / + east)")
        ax.set_ylabel("mean reflectance")
    axes[0].legend(fontsize=6, ncol=2)
    return write_png(fig, png_path, dpi=100)
