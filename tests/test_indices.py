"""aopflow.indices: every index against spyndex.computeIndex (or its paper's formula), the no-data
rule, the band mapping on a hand-made spectrum, the SRF convolution against direct integration,
the catalogue checks."""

from __future__ import annotations

import numpy as np
import pytest
import spyndex

from aopflow.errors import ConfigError, InputDataError
from aopflow.indices import (
    NEON_INDICES,
    OWN_INDICES,
    aop_symbol_bands,
    band_symbols,
    check_indices,
    compute_index,
    index_spec,
    s2_computable,
    symbol_centres,
)
from aopflow.indices.catalogue import CORRECTED
from aopflow.indices.srf import band_centre, response, sensor_of_item, srf_sensor, srf_weights
from aopflow.ndvi import normalized_difference

SPYNDEX_NEON = [n for n in NEON_INDICES if n not in OWN_INDICES and n not in CORRECTED]


def random_bands(symbols, n=500, seed=0):
    rng = np.random.default_rng(seed)
    return {s: rng.uniform(0.0, 0.6, n).astype(np.float32) for s in symbols}


@pytest.mark.parametrize("name", SPYNDEX_NEON)
def test_index_equals_spyndex_compute_index(name):
    spec = index_spec(name)
    bands = random_bands(spec.bands, seed=len(name))
    got = compute_index(spec, bands)
    # spyndex's own computation with its own constant defaults, on the same values.
    params = {**{s: bands[s].astype(np.float64) for s in spec.bands},
              **{c: spyndex.constants[c].default for c in spec.constants}}
    want = spyndex.computeIndex(name, params)
    ok = np.isfinite(want)
    assert ok.sum() > 400
    np.testing.assert_allclose(got[ok], want[ok], rtol=2e-5, atol=2e-6)
    assert got.dtype == np.float32


def test_savi_constant_override_reaches_the_formula():
    spec = index_spec("SAVI", {"L": 0.5})
    assert spec.constants == {"L": 0.5}
    b = random_bands(spec.bands, seed=3)
    want = 1.5 * (b["N"] - b["R"]) / (b["N"] + b["R"] + 0.5)
    np.testing.assert_allclose(compute_index(spec, b), want, rtol=1e-5)
    # spyndex's default is 1.0 (EVI's L): a different value
    assert not np.allclose(compute_index(index_spec("SAVI"), b), want)


@pytest.mark.parametrize("name, formula", [
    ("PRI", lambda b: (b["R531"] - b["R570"]) / (b["R531"] + b["R570"])),  # Gamon et al. 1992
    ("WBI", lambda b: b["R900"] / b["R970"]),  # Penuelas et al. 1993
])
def test_own_index_equals_its_paper_formula(name, formula):
    spec = index_spec(name)
    assert spec.source == "aopflow" and spec.reference.startswith("https://doi.org/")
    b = random_bands(spec.bands, seed=7)
    np.testing.assert_allclose(compute_index(spec, b), formula(b), rtol=1e-6)


def test_arvi_is_kaufman_and_tanre_not_spyndex_0_12():
    # spyndex 0.12's ARVI flips the sign of the red-blue correction (ASI issue #132). When
    # spyndex ships the fix, this fails: then drop the CORRECTED entry.
    assert spyndex.indices["ARVI"].formula == CORRECTED["ARVI"][0]
    spec = index_spec("ARVI")
    assert spec.constants == {"gamma": spyndex.constants["gamma"].default} == {"gamma": 1.0}
    b = random_bands(("N", "R", "B"), seed=11)
    rb = b["R"] - 1.0 * (b["B"] - b["R"])  # Kaufman & Tanre 1992: rb = r - gamma (b - r)
    want = (b["N"] - rb) / (b["N"] + rb)
    got = compute_index(spec, b)
    ok = np.isfinite(got)
    np.testing.assert_allclose(got[ok], want[ok], rtol=1e-5)
    # NEON's ARVI (gamma = 1): (NIR - (2 red - blue)) / (NIR + (2 red - blue))
    neon = (b["N"] - (2 * b["R"] - b["B"])) / (b["N"] + (2 * b["R"] - b["B"]))
    np.testing.assert_allclose(got[ok], neon[ok], rtol=1e-5)
    # ... which spyndex 0.12 does not give
    sp = spyndex.computeIndex("ARVI", {**b, "gamma": 1.0})
    assert not np.allclose(sp, want)
    assert index_spec("ARVI", {"gamma": 0.5}).constants == {"gamma": 0.5}


def test_own_indices_are_not_in_spyndex():
    # If spyndex gains one, its definition wins: review the own table then.
    assert not set(OWN_INDICES) & set(spyndex.indices)


@pytest.mark.parametrize("name", NEON_INDICES)
def test_no_data_rule(name):
    spec = index_spec(name)
    n = 6
    b = {s: np.full(n, 0.3, np.float32) for s in spec.bands}
    first = spec.bands[0]
    b[first][0] = -0.01  # a negative reflectance
    b[first][1] = np.nan  # no data
    b[first][2] = np.inf
    got = compute_index(spec, b)
    assert np.isnan(got[:3]).all()
    assert np.isfinite(got[3:]).all()


def test_ndvi_index_is_the_ndvi_rule():
    rng = np.random.default_rng(1)
    nir = rng.uniform(-0.05, 0.6, 2000).astype(np.float32)
    red = rng.uniform(-0.05, 0.3, 2000).astype(np.float32)
    nir[:5] = 0
    red[:5] = 0  # both zero: 0/0
    red[5] = 0  # NIR > 0, red 0: exactly 1
    got = compute_index(index_spec("NDVI"), {"N": nir, "R": red})
    want = normalized_difference(nir, red)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got[np.isfinite(want)], want[np.isfinite(want)], rtol=1e-6)
    assert np.isnan(got[:5]).all() and got[5] == 1.0
    assert np.isnan(got[(nir < 0) | (red < 0)]).all()


def test_unknown_name_suggests_close_matches():
    with pytest.raises(ConfigError, match=r"'NDVi' is not a spectral index.*Did you mean NDVI"):
        check_indices(["NDVi"])


def test_uncomputable_and_bad_constants_rejected():
    with pytest.raises(ConfigError, match="VV"):  # a radar index
        index_spec("DPDD")
    with pytest.raises(ConfigError, match="PAR"):  # a constant without default
        index_spec("NIRvP")
    with pytest.raises(ConfigError, match=r"\['Q'\] not used by SAVI"):
        index_spec("SAVI", {"Q": 1.0})
    # An entry for an unlisted index is checked, not required to be listed.
    assert [s.name for s in check_indices(["NDVI"], {"SAVI": {"L": 0.5}})] == ["NDVI"]
    with pytest.raises(ConfigError, match="not used by SAVI"):
        check_indices(["NDVI"], {"SAVI": {"Q": 0.5}})


def test_every_neon_symbol_has_a_range():
    syms = band_symbols()
    for name in NEON_INDICES:
        for s in index_spec(name).bands:
            lo, hi = syms[s]
            assert lo < hi


def test_band_mapping_on_a_hand_made_spectrum():
    # 5 nm bands from 400 to 2500 nm; a spectrum whose value is its wavelength / 1e4, so the
    # mapped value says which band was taken; cleaning drops 1640-1660 nm.
    wl = np.arange(400.0, 2501.0, 5.0)
    kept = np.flatnonzero(~((wl >= 1640) & (wl <= 1660)))
    got = aop_symbol_bands(wl, kept, ["N", "R", "S1", "R531", "G"])
    assert wl[got["N"]] == 830.0  # centre of 760-900
    assert wl[got["R"]] == 655.0  # centre of 620-690
    assert wl[got["R531"]] == 530.0  # 531 nm: nearest of 530 and 535
    assert wl[got["G"]] == 555.0
    # S1's centre 1650 is cleaned away: the nearest kept band (1635 or 1665: the first wins)
    assert wl[got["S1"]] in (1635.0, 1665.0)
    assert set(symbol_centres()) == set(band_symbols())


def test_band_mapping_refuses_a_symbol_the_sensor_lacks():
    wl = np.arange(400.0, 1001.0, 5.0)  # VNIR only
    with pytest.raises(InputDataError, match="S1"):
        aop_symbol_bands(wl, np.arange(wl.size), ["S1"])


def test_s2_computable_says_why_not():
    specs = check_indices(NEON_INDICES)
    ok, why = s2_computable(specs, ["red", "nir"])
    assert set(ok) == {"NDVI", "SAVI"}
    assert ok["NDVI"] == {"N": "nir", "R": "red"}
    assert "no Sentinel-2 MSI band" in why["PRI"] and "no Sentinel-2 MSI band" in why["WBI"]
    assert "blue" in why["EVI"] and "swir16" in why["NDII"] and "green" in why["NDWI"]
    ok, why = s2_computable(specs, ["blue", "green", "red", "nir", "swir16", "swir22"])
    assert set(ok) == set(NEON_INDICES) - {"PRI", "WBI"}
    assert ok["NMDI"] == {"N": "nir", "S1": "swir16", "S2": "swir22"}


# ---- SRF ----------------------------------------------------------------------------------

def test_srf_tables_are_shipped_and_distinct_per_sensor():
    lam_a, r_a = response("S2A", "red")
    lam_b, r_b = response("S2B", "red")
    assert r_a.max() == pytest.approx(1.0) and lam_a.min() > 600 and lam_a.max() < 720
    assert not (lam_a.shape == lam_b.shape and np.allclose(r_a, r_b))
    assert 660 < band_centre("S2A", "red") < 670
    assert srf_sensor("S2C") == "S2A"  # no S2C table in pyrsr (docs/indices.md)
    assert sensor_of_item("S2B_11SMB_20240615_0_L2A") == "S2B"
    with pytest.raises(InputDataError):
        sensor_of_item("LC08_x")


def test_box_spectrum_gives_the_response_weighted_share():
    # A sensor with 1 nm bands: the band-equivalent of a box spectrum (1 in [a, b], 0 elsewhere)
    # is the share of the response inside [a, b].
    wl = np.arange(400.0, 1001.0, 1.0)
    lam, r = response("S2A", "red")
    a, b = 655.0, 672.0
    box = ((wl >= a) & (wl <= b)).astype(np.float64)
    idx, w = srf_weights(wl, np.arange(wl.size), lam, r)
    got = float(box[idx] @ w)
    want = r[(lam >= a) & (lam <= b)].sum() / r.sum()
    assert got == pytest.approx(want, abs=1e-12)
    assert w.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("asset", ["red", "nir", "green"])
def test_srf_convolution_equals_direct_integration(asset):
    # An AOP-like sensor (5 nm bands) samples a smooth known spectrum; the band-equivalent from
    # the samples matches the integral of response x spectrum on the 1 nm grid.
    def spectrum(x):
        return 0.2 + 0.15 * np.sin(x / 37.0) + 0.3 / (1 + np.exp(-(x - 720.0) / 12.0))

    wl = np.arange(381.0, 2511.0, 5.0)
    lam, r = response("S2B", asset)
    idx, w = srf_weights(wl, np.arange(wl.size), lam, r)
    got = float(spectrum(wl[idx]) @ w)
    want = float(np.sum(r * spectrum(lam)) / np.sum(r))
    # Linear interpolation between 5 nm samples errs by at most h^2/8 max|f''|.
    x = np.arange(300.0, 2600.0, 0.25)
    f2 = np.abs(np.gradient(np.gradient(spectrum(x), x), x)).max()
    assert abs(got - want) <= 5.0**2 / 8 * f2
    assert idx.size > 3
    # On the SRF's own 1 nm grid the sum is the integral itself.
    wl1 = np.arange(381.0, 2511.0, 1.0)
    idx1, w1 = srf_weights(wl1, np.arange(wl1.size), lam, r)
    assert float(spectrum(wl1[idx1]) @ w1) == pytest.approx(want, rel=1e-12)


def test_srf_past_the_kept_bands_is_refused():
    wl = np.arange(400.0, 700.0, 5.0)
    with pytest.raises(InputDataError, match="reaches past"):
        srf_weights(wl, np.arange(wl.size), *response("S2A", "nir"))


def test_cleaned_bands_get_no_weight():
    wl = np.arange(381.0, 2511.0, 5.0)
    kept = np.flatnonzero(~((wl > 800) & (wl < 820)))
    idx, w = srf_weights(wl, kept, *response("S2A", "nir"))
    assert not np.any((wl[idx] > 800) & (wl[idx] < 820))
    assert w.sum() == pytest.approx(1.0)


def test_docs_index_table_matches_the_catalogue():
    # docs/indices.md's table of the default indices: the formula aopflow computes, the AOP
    # bands the mapping picks on a 426-band tile, and the source.
    import re
    from pathlib import Path

    from aopflow.clean import CleanSpec, good_bands
    from aopflow.demo.aop import wavelength_grid

    text = (Path(__file__).parents[1] / "docs" / "indices.md").read_text()
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| ([A-Z]+) \| `([^`]+)` \|.*$", text, re.M)}
    assert set(rows) == set(NEON_INDICES)
    wl = wavelength_grid(426)
    kept = good_bands(wl, CleanSpec.from_config(None), ())
    mapped = aop_symbol_bands(wl, kept)
    for name in NEON_INDICES:
        spec = index_spec(name, {"L": 0.5} if name == "SAVI" else None)
        cells = [c.strip() for c in rows[name].split("|")[1:-1]]
        assert cells[1] == f"`{spec.formula}`", name
        aop = [int(x) for x in re.findall(r"\d{3,4}", cells[3])]
        assert aop == [round(wl[mapped[s]]) for s in spec.bands], name
        assert ("aopflow" in cells[5]) == (spec.source == "aopflow"), name
