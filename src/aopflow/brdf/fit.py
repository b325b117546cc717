"""Fit a site's BRDF and topographic model from pixel samples (FlexBRDF, Queally et al. 2022).

Order as in HyTools and NEON's .002 processing: SCS+C first (C per band, one regression per
flight line, :func:`aopflow.brdf.topo.fit_c`), then, on the topographically corrected samples,
per group of lines (a flight day, or the whole site) and per NDVI bin, ordinary least squares
``rho = f_iso + f_vol K_vol + f_geo K_geo`` for every band at once. NDVI bins are dynamic:
equal-count quantile bins of the group's masked samples, as many as ``ndvi_bins`` allows with
at least ``min_samples`` samples each (one bin if the group has fewer than twice that).
NDVI is that of the uncorrected samples, as FlexBRDF bins and as the correction looks it up.

Masks (samples not used by the fit; the correction still applies to them): any angle or band
no data; NDVI outside [``ndvi_min``, 1] (water, built, bare; NEON's fit mask is NDVI 0.1-1);
NIR reflectance below ``dark_nir`` (shadow, dark); slope above ``max_slope``; Weather Quality
Indicator code above ``wqi_max`` (clouds; code 0 = unknown is kept). The topographic fit also
needs cos i > :data:`aopflow.brdf.topo.MIN_COS_I` and a slope of at least
:data:`TOPO_MIN_SLOPE` degrees.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from aopflow.brdf.apply import ndvi_of
from aopflow.brdf.model import BrdfModel, Group, Line
from aopflow.brdf.terms import pixel_kernels
from aopflow.ndvi import NIR_NM, RED_NM
from aopflow.brdf.topo import C_NONE, MIN_COS_I, fit_c, scsc_factor
from aopflow.errors import SiteError

log = logging.getLogger(__name__)

#: Samples on slopes below this (degrees) carry no terrain signal and are left out of the C fit.
TOPO_MIN_SLOPE = 2.0
#: Groups the fit can make (``brdf.group``).
GROUPINGS = ("day", "site")


@dataclass
class SampleSet:
    """Pooled samples of a site: ``pixels`` (n, B) float32 reflectance of the bands at
    ``wavelengths`` (B,) nm; ``geometry`` (n, 6) float32 degrees (solar zenith, solar azimuth,
    view zenith, view azimuth, slope, aspect); ``line`` (n,) int index into ``line_files``
    (-1 none); ``wqi`` (n,) uint8 codes (0 unknown); per line: ``line_files``, ``line_dates``
    (YYYYMMDD), ``line_sun`` (L, 2) solar zenith and azimuth."""

    pixels: np.ndarray
    wavelengths: np.ndarray
    geometry: np.ndarray
    line: np.ndarray
    wqi: np.ndarray
    line_files: list[str]
    line_dates: list[str]
    line_sun: np.ndarray


def fit_mask(s: SampleSet, ndvi: np.ndarray, *, nir: int, ndvi_min: float, dark_nir: float, max_slope: float,
             wqi_max: int) -> np.ndarray:
    """Samples the fit uses (see the module docstring)."""
    g = s.geometry
    ok = (s.line >= 0) & np.isfinite(g).all(axis=1) & np.isfinite(s.pixels).all(axis=1)
    ok &= np.isfinite(ndvi) & (ndvi >= ndvi_min) & (ndvi <= 1.0)
    ok &= s.pixels[:, nir] >= dark_nir
    ok &= g[:, 4] <= max_slope
    ok &= (s.wqi == 0) | (s.wqi <= wqi_max)
    return ok


def ndvi_bins(ndvi: np.ndarray, n_bins: int, min_samples: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dynamic bins of ``ndvi`` (m,): (edges (nb+1,), centres (nb,) = mean NDVI of each bin,
    bin index of each sample (m,)). Equal-count quantile bins, nb = min(n_bins, m // min_samples),
    at least 1; ties merge bins."""
    m = ndvi.size
    nb = max(1, min(int(n_bins), m // max(int(min_samples), 1)))
    edges = np.unique(np.quantile(ndvi, np.linspace(0.0, 1.0, nb + 1)))
    if edges.size < 2:
        edges = np.array([ndvi.min(), ndvi.max() + 1e-6])
    which = np.clip(np.searchsorted(edges, ndvi, side="right") - 1, 0, edges.size - 2)
    counts = np.bincount(which, minlength=edges.size - 1)
    keep = counts > 0
    centres = np.array([ndvi[which == k].mean() for k in np.flatnonzero(keep)])
    if not keep.all():  # an empty bin (ties): renumber
        remap = np.cumsum(keep) - 1
        which = remap[which]
        edges = np.concatenate([edges[:-1][keep], edges[-1:]])
    return edges, centres, which


def kernel_ols(kv: np.ndarray, kg: np.ndarray, rho: np.ndarray, chunk: int = 20000,
               nonnegative: bool = True) -> np.ndarray:
    """Least squares ``rho (m, B) = f_iso + f_vol kv + f_geo kg`` -> (3, B) float64 (normal
    equations accumulated in row chunks, so no float64 copy of ``rho``).

    With ``nonnegative`` the volumetric and geometric weights are kept >= 0 (scattering by
    leaves and shadowing by crowns cannot brighten the opposite way): per band, of the
    unconstrained solution and those with f_vol, f_geo or both fixed at 0, the feasible one of
    least squared error (the exact solution of this 3-parameter problem). Within one flight
    day the two kernels are strongly correlated (both follow the across-track view angle), and
    an unconstrained fit then trades a large positive weight of one for a large negative one of
    the other, which the few samples of a bin support but the pixels' sun positions between
    the lines do not.
    """
    A = np.stack([np.ones_like(kv), kv, kg], axis=1).astype(np.float64)
    AtA = A.T @ A
    AtY = np.zeros((3, rho.shape[1]))
    for a in range(0, rho.shape[0], chunk):
        AtY += A[a:a + chunk].T @ rho[a:a + chunk].astype(np.float64)
    full = np.linalg.lstsq(AtA, AtY, rcond=None)[0]
    if not nonnegative:
        return full
    best = full.copy()
    bad = (full[1] < 0) | (full[2] < 0)
    if not bad.any():
        return best
    sse_best = np.full(full.shape[1], np.inf)
    for keep in ([0, 1], [0, 2], [0]):  # f_iso with f_vol, with f_geo, alone
        sub = np.zeros_like(full)
        sub[keep] = np.linalg.lstsq(AtA[np.ix_(keep, keep)], AtY[keep], rcond=None)[0]
        ok = (sub[1] >= 0) & (sub[2] >= 0)
        # SSE up to the constant y'y: -2 b'A'y + b'A'A b
        sse = -2 * np.sum(sub * AtY, axis=0) + np.sum(sub * (AtA @ sub), axis=0)
        take = bad & ok & (sse < sse_best)
        best[:, take] = sub[:, take]
        sse_best[take] = sse[take]
    return best


def fit_model(s: SampleSet, *, group_by: str = "day", topo: bool = True, n_bins: int = 18, min_samples: int = 2000,
              solar_zenith: float | None = None, geometric: str = "li_sparse", ndvi_min: float = 0.1,
              dark_nir: float = 0.05, max_slope: float = 40.0, wqi_max: int = 2, red_nm: float = RED_NM,
              nir_nm: float = NIR_NM, nonnegative: bool = True) -> BrdfModel:
    """The site's :class:`BrdfModel` from its pooled samples (see the module docstring)."""
    if group_by not in GROUPINGS:
        raise ValueError(f"Unknown method {group_by!r} for brdf.group; must be one of {sorted(GROUPINGS)}")
    wl = np.asarray(s.wavelengths, dtype=np.float64)
    red, nir = (int(np.abs(wl - w).argmin()) for w in (red_nm, nir_nm))
    ndvi = ndvi_of(s.pixels, red, nir).astype(np.float64)
    ok = fit_mask(s, ndvi, nir=nir, ndvi_min=ndvi_min, dark_nir=dark_nir, max_slope=max_slope, wqi_max=wqi_max)
    if ok.sum() < min_samples:
        raise SiteError(
            f"BRDF fit: {int(ok.sum())} of {s.line.size} sampled pixels pass the fit masks, fewer than "
            f"brdf.min_samples ({min_samples}). Sample more pixels per tile (brdf.sample_size), lower "
            "brdf.min_samples, or turn the correction off (brdf.enabled: false)."
        )
    g = s.geometry
    stub = BrdfModel(wl, {}, {}, geometric=geometric)
    kv, kg, cf, ci, _ = pixel_kernels(stub, *(g[:, k] for k in range(6)))
    n_lines = len(s.line_files)
    group_of_line = [s.line_dates[i] if group_by == "day" else "site" for i in range(n_lines)]

    # 1. SCS+C: one regression per flight line.
    c_line = np.full((n_lines, wl.size), C_NONE)
    n_topo = np.zeros(n_lines, dtype=int)
    if topo:
        use = ok & (ci > MIN_COS_I) & (g[:, 4] >= TOPO_MIN_SLOPE)
        min_line = max(20, min_samples // 4)
        for i in range(n_lines):
            sel = use & (s.line == i)
            n_topo[i] = int(sel.sum())
            if n_topo[i] >= min_line:
                c_line[i] = fit_c(s.pixels[sel], ci[sel], cf[sel])
        for grp in set(group_of_line):  # lines with too few samples: their group's weighted mean
            mine = [i for i in range(n_lines) if group_of_line[i] == grp]
            fitted = [i for i in mine if n_topo[i] >= min_line]
            if fitted:
                mean = np.average(c_line[fitted], axis=0, weights=n_topo[fitted])
                for i in mine:
                    if n_topo[i] < min_line:
                        c_line[i], n_topo[i] = mean, 0
        rho = s.pixels.copy()
        sel = np.flatnonzero(ok & (s.line >= 0))
        rho[sel] *= scsc_factor(cf[sel], ci[sel], c_line[s.line[sel]]).astype(np.float32)
    else:
        rho = s.pixels

    # 2. Groups: too few samples -> pooled into the site group.
    counts = {grp: int((ok & np.isin(s.line, [i for i in range(n_lines) if group_of_line[i] == grp])).sum())
              for grp in set(group_of_line)}
    short = sorted(k for k, v in counts.items() if v < min_samples)
    if short and group_by == "day":
        log.warning("BRDF fit: days %s have fewer than %d usable samples (%s); their lines use the site-wide fit",
                    short, min_samples, {k: counts[k] for k in short})
        group_of_line = ["site" if grp in short else grp for grp in group_of_line]
    groups: dict[str, Group] = {}
    for grp in sorted(set(group_of_line)):
        members = [i for i in range(n_lines) if group_of_line[i] == grp]
        # The fallback site group of day grouping is fitted on every usable sample of the site.
        sel = ok if grp == "site" else ok & np.isin(s.line, members)
        edges, centres, which = ndvi_bins(ndvi[sel], n_bins, min_samples)
        nb = centres.size
        coef = np.zeros((3, nb, wl.size))
        idx = np.flatnonzero(sel)
        for k in range(nb):
            p = idx[which == k]
            coef[:, k] = kernel_ols(kv[p], kg[p], rho[p], nonnegative=nonnegative)
        ts_ref = float(solar_zenith) if solar_zenith is not None else float(np.mean(s.line_sun[members, 0]))
        groups[grp] = Group(grp, [s.line_files[i] for i in members], ts_ref, edges, centres,
                            np.bincount(which, minlength=nb), coef[0], coef[1], coef[2])
        log.info("BRDF group %s: %d lines, %d samples in %d NDVI bins, reference solar zenith %.2f deg",
                 grp, len(members), idx.size, nb, ts_ref)
    lines = {s.line_files[i]: Line(s.line_files[i], group_of_line[i], s.line_dates[i], float(s.line_sun[i, 0]),
                                   float(s.line_sun[i, 1]), c_line[i], int(n_topo[i])) for i in range(n_lines)}
    return BrdfModel(wl, groups, lines, geometric=geometric, group_by=group_by, topo=topo, ndvi_min=ndvi_min,
                     red_nm=red_nm, nir_nm=nir_nm,
                     info={"samples": int(s.line.size), "fit_samples": int(ok.sum()), "min_samples": int(min_samples),
                           "ndvi_bins": int(n_bins), "dark_nir": dark_nir, "max_slope": max_slope, "wqi_max": wqi_max,
                           "nonnegative": bool(nonnegative)})


def merge_line_tables(tables: Sequence[tuple[Sequence[str], Sequence[str], np.ndarray]]):
    """Per-tile line tables (files, dates, sun (L, 2)) -> (site files, dates, sun, per-tile
    index maps into the site list)."""
    files: list[str] = []
    dates: list[str] = []
    sun: list = []
    maps = []
    for f, d, su in tables:
        m = []
        for k, name in enumerate(f):
            if name not in files:
                files.append(name)
                dates.append(str(d[k]))
                sun.append(np.asarray(su[k], dtype=np.float64))
            m.append(files.index(name))
        maps.append(np.array(m, dtype=np.int64))
    return files, dates, np.array(sun).reshape(-1, 2), maps
