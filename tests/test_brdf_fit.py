"""The site fit recovers known coefficients from a forward-modelled sample, and the correction
returns the nadir, flat-terrain reflectance at the reference solar zenith."""

from __future__ import annotations

import numpy as np
import pytest

from aopflow.brdf.apply import Corrector, ndvi_of
from aopflow.brdf.fit import SampleSet, fit_model, ndvi_bins
from aopflow.brdf.kernels import kernels_deg
from aopflow.brdf.model import BrdfModel, Group, Line, read_model, write_model
from aopflow.brdf.topo import C_NONE, cos_flat, cos_incidence, fit_c
from aopflow.errors import SiteError

WL = np.linspace(450, 2400, 24)
WL[np.abs(WL - 660).argmin()] = 660.0
WL[np.abs(WL - 850).argmin()] = 850.0
RED, NIR = int(np.abs(WL - 660).argmin()), int(np.abs(WL - 850).argmin())
#: Lines: (file, date, solar zenith, solar azimuth): two days, both sides of south.
LINES = [("NEON_D00_DEMO_DP1_20240601_150000_reflectance.h5", "20240601", 28.0, 130.0),
         ("NEON_D00_DEMO_DP1_20240601_170000_reflectance.h5", "20240601", 40.0, 235.0),
         ("NEON_D00_DEMO_DP1_20240602_160000_reflectance.h5", "20240602", 24.0, 165.0),
         ("NEON_D00_DEMO_DP1_20240602_180000_reflectance.h5", "20240602", 44.0, 250.0)]
TRUE_C = 0.4 + 0.6 * np.linspace(0, 1, WL.size)  # per band


def _cluster_spectra(ndvi: float) -> np.ndarray:
    base = np.interp(WL, [450, 660, 700, 850, 1300, 2400], [0.05, 0.05, 0.2, 0.3, 0.25, 0.1])
    base[RED] = 0.3 * (1 - ndvi) / (1 + ndvi)  # NDVI of iso = ndvi
    base[NIR] = 0.3
    return base


#: Two materials: (iso (B,), f_vol / f_iso, f_geo / f_iso).
CLUSTERS = [(_cluster_spectra(0.3), 0.5, 0.004), (_cluster_spectra(0.8), 1.2, 0.010)]


def simulate(n_per_line=6000, seed=1, noise=0.0005, topo=True):
    rng = np.random.default_rng(seed)
    pix, geo, line, truth_coef = [], [], [], []
    for li, (_, _, sz, sa) in enumerate(LINES):
        n = n_per_line
        x = rng.uniform(-1, 1, n)  # across-track position: view zenith up to 17 deg, east or west
        vz = np.abs(x) * 17.0
        va = np.where(x > 0, 90.0, 270.0)  # to-sensor azimuth: the sensor east / west of the pixel
        slope = rng.uniform(0, 30, n)
        aspect = rng.uniform(0, 360, n)
        k = rng.integers(0, 2, n)
        kv, kg = kernels_deg(sz, sa, vz, va)
        iso = np.stack([CLUSTERS[c][0] for c in k]) * rng.uniform(0.95, 1.05, (n, 1))
        rv = np.array([CLUSTERS[c][1] for c in k])[:, None]
        rg = np.array([CLUSTERS[c][2] for c in k])[:, None]
        rho = iso * (1 + rv * kv[:, None] + rg * kg[:, None])
        if topo:
            ci, cf = cos_incidence(sz, sa, slope, aspect), cos_flat(sz, slope)
            rho = rho * (ci[:, None] + TRUE_C) / (cf[:, None] + TRUE_C)
        rho += rng.normal(0, noise, rho.shape)
        pix.append(rho.astype(np.float32))
        geo.append(np.stack([np.full(n, sz), np.full(n, sa), vz, va, slope, aspect], axis=1))
        line.append(np.full(n, li))
        truth_coef.append((iso, rv, rg))
    s = SampleSet(np.concatenate(pix), WL, np.concatenate(geo).astype(np.float32), np.concatenate(line),
                  np.zeros(n_per_line * len(LINES), np.uint8), [l[0] for l in LINES], [l[1] for l in LINES],
                  np.array([[l[2], l[3]] for l in LINES]))
    return s, truth_coef


def test_fit_recovers_c_per_line_and_kernel_weights_per_bin():
    s, _ = simulate()
    m = fit_model(s, group_by="day", n_bins=2, min_samples=3000, ndvi_min=0.1, dark_nir=0.0, max_slope=40)
    assert sorted(m.groups) == ["20240601", "20240602"]
    for f, *_ in LINES:
        # One regression per line recovers C (a pooled regression over lines would not); the
        # red band, where the two materials differ five-fold, is the noisiest.
        rel = np.abs(m.lines[f].c / TRUE_C - 1)
        assert np.median(rel) < 0.05 and rel.max() < 0.25, rel
    for g in m.groups.values():
        assert g.centres.size == 2 and g.counts.min() > 4000
        np.testing.assert_allclose(g.centres, [0.3, 0.8], atol=0.03)
        for k, (iso, rv, rg) in enumerate(CLUSTERS):
            np.testing.assert_allclose(g.iso[k], iso, rtol=0.02)
            np.testing.assert_allclose(g.vol[k], rv * iso, rtol=0.15, atol=0.003)
            np.testing.assert_allclose(g.geo[k], rg * iso, rtol=0.15, atol=3e-4)


def test_pooled_topographic_regression_is_biased():
    # Why C is fitted per line (BRDF.md 4): pooling lines at different sun positions.
    s, _ = simulate(topo=True)
    ci = cos_incidence(s.geometry[:, 0], s.geometry[:, 1], s.geometry[:, 4], s.geometry[:, 5])
    pooled = fit_c(s.pixels, ci)
    assert np.median(pooled / TRUE_C) > 1.5


@pytest.mark.parametrize("group_by", ["day", "site"])
def test_correction_returns_nadir_flat_reflectance_at_reference_zenith(group_by):
    s, truth = simulate()
    m = fit_model(s, group_by=group_by, n_bins=1, min_samples=3000, ndvi_min=0.1, dark_nir=0.0,
                  max_slope=40, solar_zenith=35.0)
    corr = Corrector(m, WL)
    keys = [(f, d) for f, d, *_ in LINES]
    g = s.geometry
    terms = corr.terms(*(g[:, k] for k in range(6)), s.line, keys)
    out = corr.correct(s.pixels, terms, ndvi_of(s.pixels, RED, NIR))
    kv0, kg0 = kernels_deg(35.0, 0.0, 0.0, 0.0)
    iso = np.concatenate([t[0] for t in truth])
    rv = np.concatenate([t[1] for t in truth])
    rg = np.concatenate([t[2] for t in truth])
    nadir = iso * (1 + rv * kv0 + rg * kg0)
    before = np.sqrt(np.mean((s.pixels - nadir) ** 2))
    after = np.sqrt(np.mean((out - nadir) ** 2))
    # One NDVI bin for both materials: the fit is a compromise between them, still 4x better.
    assert after < before / 4, (before, after)
    # With the two bins each material gets its own weights: within noise of the truth.
    m2 = fit_model(s, group_by=group_by, n_bins=2, min_samples=3000, ndvi_min=0.1, dark_nir=0.0,
                   max_slope=40, solar_zenith=35.0)
    c2 = Corrector(m2, WL)
    out2 = c2.correct(s.pixels, c2.terms(*(g[:, k] for k in range(6)), s.line, keys), ndvi_of(s.pixels, RED, NIR))
    after2 = np.sqrt(np.mean((out2 - nadir) ** 2))
    assert after2 < before / 10, (before, after2)


def _model(iso, vol, geo, c, centres=(0.5,)) -> BrdfModel:
    nb = len(centres)
    g = Group("site", ["L1"], 30.0, np.linspace(0, 1, nb + 1), np.array(centres), np.full(nb, 100),
              np.array(iso), np.array(vol), np.array(geo))
    return BrdfModel(WL, {"site": g}, {"L1": Line("L1", "site", "20240601", 30.0, 150.0, np.asarray(c), 100)},
                     group_by="site")


def _terms(corr, n, rng):
    return corr.terms(np.full(n, 30.0), np.full(n, 150.0), rng.uniform(0, 17, n), rng.choice([90.0, 270.0], n),
                      rng.uniform(0, 30, n), rng.uniform(0, 360, n), np.zeros(n, int), [("L1", "20240601")])


def test_neutral_model_is_identity_and_dn_rounding_is_half_a_dn():
    rng = np.random.default_rng(3)
    B, n = WL.size, 5000
    dn = rng.integers(-50, 9000, (n, B)).astype(np.int16)
    dn[:7] = -9999
    corr = Corrector(_model(np.full((1, B), 0.3), np.zeros((1, B)), np.zeros((1, B)), np.full(B, C_NONE)), WL)
    ndvi = rng.uniform(0.2, 0.9, n)
    out = corr.correct(dn, _terms(corr, n, rng), ndvi, nodata=-9999)
    np.testing.assert_array_equal(out, dn)
    # A real model: the integer result is the exact product rounded, so within 0.5 DN.
    model = _model(np.full((2, B), 0.3), np.full((2, B), 0.2), np.full((2, B), 0.003), np.full(B, 0.7), centres=(0.3, 0.8))
    corr = Corrector(model, WL)
    terms = _terms(corr, n, rng)
    exact = corr.correct(dn.astype(np.float64), terms, ndvi, nodata=-9999)
    got = corr.correct(dn, terms, ndvi, nodata=-9999, threads=2)
    valid = dn[:, 0] != -9999
    assert np.max(np.abs(got[valid] - exact[valid])) <= 0.5 + 1e-3
    assert np.max(np.abs(exact[valid] - dn[valid])) > 100  # the correction did change values
    np.testing.assert_array_equal(got[~valid], -9999)


def test_bins_interpolate_linearly_between_centres_and_hold_beyond():
    B = WL.size
    iso = np.stack([np.full(B, 0.2), np.full(B, 0.4)])
    vol = np.stack([np.zeros(B), np.full(B, 0.4)])
    model = _model(iso, vol, np.zeros((2, B)), np.full(B, C_NONE), centres=(0.3, 0.7))
    corr = Corrector(model, WL)
    n = 4
    terms = corr.terms(np.full(n, 30.0), np.full(n, 150.0), np.full(n, 10.0), np.full(n, 90.0),
                       np.zeros(n), np.zeros(n), np.zeros(n, int), [("L1", "20240601")])
    out = corr.correct(np.ones((n, B)), terms, np.array([0.2, 0.5, 0.7, 0.05]))
    kv, _ = kernels_deg(30.0, 150.0, 10.0, 90.0)
    kv0, _ = kernels_deg(30.0, 0, 0, 0)
    # NDVI 0.5 is half-way: iso 0.3, vol 0.2; 0.2 holds the first bin (no vol: factor 1);
    # 0.05 is below ndvi_min: factor 1.
    np.testing.assert_allclose(out[1], (0.3 + 0.2 * kv0) / (0.3 + 0.2 * kv), rtol=1e-6)
    np.testing.assert_allclose(out[2], (0.4 + 0.4 * kv0) / (0.4 + 0.4 * kv), rtol=1e-6)
    np.testing.assert_allclose(out[0], 1.0, rtol=1e-6)
    np.testing.assert_allclose(out[3], 1.0, rtol=1e-6)


def test_dynamic_bins_have_min_samples():
    v = np.random.default_rng(0).beta(5, 2, 10000)
    edges, centres, which = ndvi_bins(v, 18, 2000)
    assert centres.size == 5 and np.bincount(which).min() >= 1900
    assert np.all(np.diff(centres) > 0)


def test_too_few_samples_is_a_clear_error():
    s, _ = simulate(n_per_line=100)
    with pytest.raises(SiteError, match="fewer than brdf.min_samples"):
        fit_model(s, min_samples=3000)


def test_coefficients_round_trip(tmp_path):
    s, _ = simulate(n_per_line=2000)
    m = fit_model(s, n_bins=3, min_samples=500, dark_nir=0.0)
    back = read_model(write_model(m, tmp_path / "c.json"))
    assert back.groups.keys() == m.groups.keys() and back.lines.keys() == m.lines.keys()
    for k in m.groups:
        np.testing.assert_allclose(back.groups[k].geo, m.groups[k].geo)
    np.testing.assert_allclose(back.lines[LINES[0][0]].c, m.lines[LINES[0][0]].c)


def test_without_topography_low_ndvi_pixels_are_copied_exactly():
    B = WL.size
    model = _model(np.full((1, B), 0.3), np.full((1, B), 0.2), np.full((1, B), 0.003), np.full(B, 0.5))
    model.topo = False
    corr = Corrector(model, WL)
    rng = np.random.default_rng(5)
    n = 400
    dn = rng.integers(100, 9000, (n, B)).astype(np.int16)
    ndvi = np.where(np.arange(n) % 2 == 0, 0.05, 0.6)  # every other pixel below ndvi_min
    out = corr.correct(dn, _terms(corr, n, rng), ndvi, nodata=-9999)
    np.testing.assert_array_equal(out[::2], dn[::2])
    assert np.mean(out[1::2] != dn[1::2]) > 0.5


def test_a_day_with_too_few_samples_uses_the_site_fit():
    s, _ = simulate(n_per_line=3000)
    keep = (s.line < 2) | (np.arange(s.line.size) % 20 == 0)  # day 2 thinned to 300 samples
    s2 = SampleSet(s.pixels[keep], s.wavelengths, s.geometry[keep], s.line[keep], s.wqi[keep], s.line_files,
                   s.line_dates, s.line_sun)
    m = fit_model(s2, group_by="day", n_bins=2, min_samples=1000, dark_nir=0.0)
    assert sorted(m.groups) == ["20240601", "site"]
    assert m.groups["site"].lines == [LINES[2][0], LINES[3][0]]
    assert int(m.groups["site"].counts.sum()) == int(keep.sum())  # fitted on every usable sample
    assert m.lines[LINES[3][0]].group == "site"


def test_unknown_line_takes_its_day_or_fails_clearly():
    from aopflow.errors import ConfigError

    s, _ = simulate(n_per_line=1500)
    m = fit_model(s, group_by="day", n_bins=1, min_samples=1000, dark_nir=0.0)
    group, c = m.line_params("NEON_D00_DEMO_DP1_20240602_190000_reflectance.h5", "20240602", "t.h5")
    assert group == "20240602"
    np.testing.assert_allclose(c, np.mean([m.lines[LINES[2][0]].c, m.lines[LINES[3][0]].c], axis=0))
    with pytest.raises(ConfigError, match="t.h5: flight line X.h5 \\(day 20240605\\) is in no group"):
        m.line_params("X.h5", "20240605", "t.h5")


@pytest.mark.parametrize(("enabled", "revision", "on"), [("auto", "001", True), ("auto", "002", False),
                                                         (True, "001", True), (False, "001", False),
                                                         (False, "002", False)])
def test_enabled_auto_true_false(enabled, revision, on):
    from aopflow.brdf.model import correction_enabled

    assert correction_enabled(enabled, revision) is on


def test_enabled_true_on_002_is_an_error():
    from aopflow.brdf.model import correction_enabled
    from aopflow.errors import ConfigError

    with pytest.raises(ConfigError, match="already BRDF- and topographically corrected"):
        correction_enabled(True, "002", "the tiles of source local")


def test_nonnegative_kernel_weights_are_the_constrained_optimum():
    from aopflow.brdf.fit import kernel_ols

    rng = np.random.default_rng(2)
    m = 4000
    kv = rng.uniform(-0.1, 0.06, m)
    kg = -7.5 + 30 * kv + rng.normal(0, 0.05, m)  # strongly correlated, as within one day
    # Band 0: true weights positive; band 1: the data want a negative f_vol.
    rho = np.stack([0.3 + 0.2 * kv + 0.002 * kg, 0.3 - 0.5 * kv + 0.0001 * kg], axis=1)
    rho += rng.normal(0, 0.002, rho.shape)
    free = kernel_ols(kv, kg, rho, nonnegative=False)
    con = kernel_ols(kv, kg, rho)
    assert free[1, 1] < 0 and np.all(con[1:] >= 0)
    np.testing.assert_allclose(con[:, 0], free[:, 0])  # feasible already: unchanged
    # No feasible point on a fine grid of (f_vol, f_geo) >= 0 (f_iso fitted) fits band 1 better.
    A = np.stack([np.ones(m), kv, kg], axis=1)
    sse = np.sum((A @ con[:, 1] - rho[:, 1]) ** 2)
    for v in np.linspace(0, 0.3, 31):
        for g in np.linspace(0, 0.01, 21):
            r = rho[:, 1] - v * kv - g * kg
            assert np.sum((r - r.mean()) ** 2) >= sse - 1e-9
