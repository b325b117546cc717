"""BRDF kernels: analytic identities, reference values (shared/BRDF.md section 2), an
independent phase angle from direction vectors, and the azimuth conventions."""

from __future__ import annotations

import numpy as np
import pytest

from aopflow.brdf.kernels import GEOMETRIC_KERNELS, geometric_kernel, kernels_deg, li_sparse, li_sparse_r, ross_thick

RNG = np.random.default_rng(0)
TS = np.radians(RNG.uniform(0, 60, 500))
TV = np.radians(RNG.uniform(0, 20, 500))
PHI = np.radians(RNG.uniform(-180, 180, 500))


@pytest.mark.parametrize("kernel", [ross_thick, li_sparse, li_sparse_r])
def test_all_kernels_zero_at_nadir_sun_and_view(kernel):
    for phi in (0.0, 1.0, np.pi):
        assert kernel(0.0, 0.0, phi) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("kernel", [ross_thick, li_sparse_r])
def test_ross_and_reciprocal_li_symmetric_in_sun_and_view(kernel):
    np.testing.assert_allclose(kernel(TS, TV, PHI), kernel(TV, TS, PHI), rtol=1e-10, atol=1e-12)


def test_wanner_li_sparse_is_not_reciprocal():
    assert np.max(np.abs(li_sparse(TS, TV, PHI) - li_sparse(TV, TS, PHI))) > 0.1


def test_reference_values():
    # BRDF.md 2 (equal to HyTools HEAD): b/r = 1, h/b = 2, ts = 30 deg, tv = 0.
    ts = np.radians(30.0)
    assert ross_thick(ts, 0.0, 0.0) == pytest.approx(-0.03144, abs=5e-6)
    assert li_sparse_r(ts, 0.0, 0.0, 1.0, 2.0) == pytest.approx(-0.69822, abs=5e-6)
    # NEON's b/r = 10 magnitudes at ts = 35 deg, nadir view (BRDF.md 2).
    t35 = np.radians(35.0)
    assert li_sparse(t35, 0.0, 0.0) == pytest.approx(-7.50, abs=0.005)
    assert li_sparse_r(t35, 0.0, 0.0) == pytest.approx(-4.04, abs=0.005)
    assert ross_thick(t35, 0.0, 0.0) == pytest.approx(-0.038, abs=0.0005)


def test_no_azimuth_dependence_at_nadir_view():
    for k in (ross_thick, li_sparse, li_sparse_r):
        v = k(np.radians(40.0), 0.0, np.radians(np.arange(0, 360, 30.0)))
        assert np.ptp(v) < 1e-12


def _unit(zenith_deg, azimuth_deg):
    z, a = np.radians(zenith_deg), np.radians(azimuth_deg)
    return np.stack([np.sin(z) * np.sin(a), np.sin(z) * np.cos(a), np.cos(z)], axis=-1)  # east, north, up


def test_ross_thick_against_phase_angle_from_direction_vectors():
    # Independent evaluation: the phase angle is the angle between the pixel->sun and
    # pixel->sensor directions (azimuths clockwise from north, to-sensor azimuth).
    sz, sa = RNG.uniform(0, 60, 300), RNG.uniform(0, 360, 300)
    vz, va = RNG.uniform(0, 20, 300), RNG.uniform(0, 360, 300)
    cos_xi = np.clip(np.sum(_unit(sz, sa) * _unit(vz, va), axis=-1), -1, 1)
    xi = np.arccos(cos_xi)
    ts, tv = np.radians(sz), np.radians(vz)
    expected = ((np.pi / 2 - xi) * cos_xi + np.sin(xi)) / (np.cos(ts) + np.cos(tv)) - np.pi / 4
    kv, _ = kernels_deg(sz, sa, vz, va)
    np.testing.assert_allclose(kv, expected, rtol=1e-10, atol=1e-12)


def test_azimuth_convention_hot_spot_when_sensor_on_the_sun_side():
    # Sun in the south-east (azimuth 135, zenith 30). A to-sensor azimuth of 135 (sensor towards
    # the sun, zenith 30) looks along the sun's rays: phase angle 0, the hot spot, where Ross-thick
    # is pi / (4 cos 30) - pi / 4 (hand-computed). With the view azimuth off by 180 degrees
    # (from the sensor to the pixel) it would be the forward-scatter value instead.
    hot = np.pi / (4 * np.cos(np.radians(30))) - np.pi / 4
    kv, kg = kernels_deg(30.0, 135.0, 30.0, 135.0)
    assert kv == pytest.approx(hot, abs=1e-12)
    kv_fwd, kg_fwd = kernels_deg(30.0, 135.0, 30.0, 315.0)
    assert kv_fwd < kv - 0.1 and kg_fwd < kg
    # Li-sparse (both forms) also peaks at the hot spot, over all view azimuths.
    for form in GEOMETRIC_KERNELS:
        vals = [kernels_deg(30.0, 135.0, 15.0, a, geometric=form)[1] for a in range(0, 360, 15)]
        assert int(np.argmax(vals)) * 15 == 135


def test_unknown_geometric_kernel_named():
    with pytest.raises(ValueError, match="brdf.geometric; must be one of"):
        geometric_kernel("li_dense")
