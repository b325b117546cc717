"""The correction in the read path: a tile's blocks corrected as read (NeonTile.set_correction),
equal to the correction of the same pixels as spectra; extra NDVI bands read in the same pass
and dropped; no correction attached = the file's values."""

from __future__ import annotations

import numpy as np

from aopflow.brdf.apply import TileCorrection, attach, correct_spectra, tile_correction
from aopflow.brdf.fit import SampleSet, fit_model
from aopflow.brdf.model import write_model
from aopflow.demo.aop import write_tile
from aopflow.neon.reader import NeonTile

from conftest import tiny_spec


def _model_for(path):
    """A model fitted on every pixel of the tile."""
    with NeonTile(path) as t:
        geo = t.read_geometry()
        bands = list(range(0, t.meta.bands, 3))
        raw = t.read_bands(bands).reshape(-1, len(bands))
        wl = t.meta.wavelengths[bands]
        lines = sorted(geo.lines)
        code = np.full(geo.line.size, -1)
        for i, v in enumerate(lines):
            code[geo.line.ravel() == v] = i
        g = np.stack([getattr(geo, k).ravel() for k in ("solar_zenith", "solar_azimuth", "view_zenith",
                                                        "view_azimuth", "slope", "aspect")], axis=1)
        ok = raw[:, 0] != t.meta.nodata
        px = raw.astype(np.float32) / 10000
        px[~ok] = np.nan
    s = SampleSet(px, wl, g.astype(np.float32), code, np.zeros(code.size, np.uint8),
                  [geo.lines[v].file for v in lines], [geo.lines[v].date for v in lines],
                  np.array([[geo.lines[v].solar_zenith, geo.lines[v].solar_azimuth] for v in lines]))
    return fit_model(s, group_by="site", n_bins=2, min_samples=200, dark_nir=0.0), s, bands


def _tile_and_coefficients(tmp_path):
    """A tiny .001 tile, its model (fitted on every pixel) and the model's coefficients file."""
    spec = tiny_spec(revision="001", shape=(1, 1), pixels=30, bands=60)
    path = write_tile(spec, spec.tile_ids()[0], tmp_path)
    model, _, _ = _model_for(path)
    return path, model, write_model(model, tmp_path / "c.json")


def test_blocks_are_corrected_as_read_and_match_the_spectra_path(tmp_path):
    spec = tiny_spec(revision="001", shape=(1, 1), pixels=30, bands=60)
    path = write_tile(spec, spec.tile_ids()[0], tmp_path)
    model, s, bands = _model_for(path)
    coeffs = write_model(model, tmp_path / "c.json")
    keep = [b for b in bands if b not in (9, 30)][:12]  # no red/NIR among them: read as extras
    with NeonTile(path) as t:
        plain = t.read_bands(keep)
        corr = attach(t, coeffs)
        assert isinstance(corr, TileCorrection) and t.correction is corr
        assert not set(corr.extra_bands) & set(keep)
        read = t.read_bands(keep)
        blocks = np.concatenate([raw for _, raw in t.iter_blocks(keep, target_mb=0.01)])
    with NeonTile(path) as t:
        assert attach(t, None) is None and t.correction is None
        np.testing.assert_array_equal(t.read_bands(keep), plain)
    assert read.shape == plain.shape and read.dtype == plain.dtype
    np.testing.assert_array_equal(blocks, read)
    valid = plain[..., 0] != -9999
    assert np.mean(read[valid] != plain[valid]) > 0.5  # changed
    np.testing.assert_array_equal(read[~valid], plain[~valid])
    # The same pixels through the spectra path (float reflectance): within half a DN.
    wl = s.wavelengths
    with NeonTile(path) as t:
        wl_keep = t.meta.wavelengths[keep]
        allb = keep + list(corr.extra_bands)
        refl = t.read_bands(allb).reshape(-1, len(allb)).astype(np.float64)
    line = s.line
    keys = list(zip(s.line_files, s.line_dates))
    ref = correct_spectra(model, refl, np.concatenate([wl_keep, t.meta.wavelengths[list(corr.extra_bands)]]),
                          s.geometry, line, keys)[:, : len(keep)]
    v = valid.ravel()
    assert np.max(np.abs(read.reshape(-1, len(keep))[v] - ref[v])) <= 0.5 + 1e-6
    assert wl.size == len(bands)


def test_spectral_tile_scores_the_corrected_cube(tmp_path):
    """spectral_tile corrects its blocks in its scoring threads: the same abundances as the
    uncorrected chain on a copy of the tile whose cube holds the corrected digital numbers."""
    import shutil

    import h5py
    import rasterio

    from aopflow.stages.spectral import sample_tile, site_endmembers, spectral_tile

    spec = tiny_spec(revision="001", shape=(1, 1), pixels=30, bands=60)
    tid = spec.tile_ids()[0]
    path = write_tile(spec, tid, tmp_path)
    model, _, _ = _model_for(path)
    coeffs = write_model(model, tmp_path / "c.json")
    with NeonTile(path) as t:
        attach(t, coeffs)
        corrected = t.read_bands(range(t.meta.bands))
    copy = tmp_path / "copy" / path.name
    copy.parent.mkdir()
    shutil.copy(path, copy)
    with h5py.File(copy, "r+") as f:
        f[f"{spec.site}/Reflectance/Reflectance_Data"][...] = corrected
    em = site_endmembers([sample_tile(path, tmp_path / "s.npz", tile_id=tid, n_samples=500)], tmp_path / "em.csv", n=3)
    outs = {}
    for name, h5, brdf in (("fused", path, coeffs), ("copy", copy, None), ("plain", path, None)):
        o = spectral_tile(h5, em, tile_id=tid, abundance_path=tmp_path / f"a_{name}.tif",
                          sam_path=tmp_path / f"s_{name}.tif", sid_path=tmp_path / f"d_{name}.tif",
                          threads=2, brdf=brdf)
        with rasterio.open(o["abundance"]) as src:
            outs[name] = src.read()
    np.testing.assert_array_equal(outs["fused"], outs["copy"])
    assert np.nanmax(np.abs(outs["fused"] - outs["plain"])) > 1e-3


def test_in_place_correction_equals_the_copy_and_uses_the_block(tmp_path):
    """``overwrite=True`` (spectral_tile's blocks) writes the corrected block into the one read,
    with the same values as the correction into a new array; the window's kernels are those of
    the whole tile's (per-window terms)."""
    path, model, coeffs = _tile_and_coefficients(tmp_path)
    with NeonTile(path) as t:
        corr = attach(t, coeffs)
        t.set_correction(None)
        bands = corr.bands_to_read(range(t.meta.bands))
        whole = corr(slice(0, 30), slice(0, 30), bands, t.read_bands(bands), t.meta.bands)
        for rows in (slice(0, 7), slice(7, 30)):
            raw = np.ascontiguousarray(t.read_bands(bands, (rows, slice(None))))
            copy = corr(rows, slice(0, 30), bands, raw.copy(), t.meta.bands)
            got = corr(rows, slice(0, 30), bands, raw, t.meta.bands, overwrite=True)
            assert np.shares_memory(got, raw)
            np.testing.assert_array_equal(got, copy)
            np.testing.assert_array_equal(got, whole[rows])
        # The geometry read in the background (spectral_tile) gives the same correction.
        bg = tile_correction(t, coeffs, threads=1, background=True)
        np.testing.assert_array_equal(bg(slice(0, 30), slice(0, 30), bands, t.read_bands(bands), t.meta.bands), whole)


def test_terms_file_gives_the_geometry_paths_correction(tmp_path, caplog):
    """A tile's terms file (written by the sampling job) gives the correction that reading the
    geometry and computing the kernels per block gives; one written for another kernel shape
    or tile is not used (a warning, then the geometry path)."""
    from aopflow.brdf.terms import KernelShape, read_tile_terms, write_tile_terms

    path, model, coeffs = _tile_and_coefficients(tmp_path)
    with NeonTile(path) as t:
        terms = write_tile_terms(t, tmp_path / "terms.npz", KernelShape.of(model))
        keys, code, stored = read_tile_terms(terms, t, KernelShape.of(model))
        geo = t.read_geometry()
        assert code.shape == (30, 30) and stored.shape == (4, 30, 30)
        assert [f for f, _ in keys] == [geo.lines[v].file for v in sorted(geo.lines)]
        assert (code >= 0).sum() == (geo.line >= 0).sum()
        bands = tile_correction(t, coeffs).bands_to_read(range(t.meta.bands))
        raw = t.read_bands(bands)
        by_geometry = tile_correction(t, coeffs)(slice(0, 30), slice(0, 30), bands, raw, t.meta.bands)
        corr = tile_correction(t, [coeffs, terms])
        assert corr._stored is not None
        for rows in (slice(0, 30), slice(3, 11)):
            np.testing.assert_array_equal(corr(rows, slice(0, 30), bands, raw[rows], t.meta.bands), by_geometry[rows])
        assert np.mean(by_geometry != raw[..., : t.meta.bands]) > 0.5
        other = write_tile_terms(t, tmp_path / "other.npz", KernelShape(geometric="li_sparse_r"))
        with caplog.at_level("WARNING"):
            fallback = tile_correction(t, [coeffs, other])
        assert fallback._stored is None
        assert "li_sparse_r" in caplog.text and "computed from" in caplog.text
        np.testing.assert_array_equal(fallback(slice(0, 30), slice(0, 30), bands, raw, t.meta.bands), by_geometry)


def test_few_bands_looked_up_per_pixel_match_the_sorted_runs(tmp_path, monkeypatch):
    """Few bands (ndvi_tile's two) take the direct path (each pixel's coefficients looked up, no
    sort): the same digital numbers as the sorted runs but for float32 rounding (at most 1 DN,
    rarely)."""
    import aopflow.brdf.apply as apply

    path, model, coeffs = _tile_and_coefficients(tmp_path)
    with NeonTile(path) as t:
        corr = tile_correction(t, coeffs)
        keep = [5, 20, 40]
        bands = corr.bands_to_read(keep)
        raw = t.read_bands(bands)
        assert len(keep) <= apply.DIRECT_BANDS
        direct = corr(slice(0, 30), slice(0, 30), bands, raw, len(keep))
        monkeypatch.setattr(apply, "DIRECT_BANDS", 0)
        corr = tile_correction(t, coeffs)
        runs = corr(slice(0, 30), slice(0, 30), bands, raw, len(keep))
    diff = np.abs(direct.astype(np.int32) - runs.astype(np.int32))
    assert diff.max() <= 1 and np.mean(diff > 0) < 0.01
    assert np.mean(runs != raw[..., : len(keep)]) > 0.5


def test_sampling_job_writes_the_tiles_terms(tmp_path):
    """sample_tile with the BRDF sample also writes the tile's terms from the same geometry
    read; without a terms path it writes none."""
    from aopflow.brdf.terms import KernelShape, read_tile_terms
    from aopflow.stages.spectral import sample_tile

    spec = tiny_spec(revision="001", shape=(1, 1), pixels=30, bands=60)
    tid = spec.tile_ids()[0]
    path = write_tile(spec, tid, tmp_path)
    sample_tile(path, tmp_path / "s.npz", tile_id=tid, n_samples=100, brdf_samples=200,
                brdf_geometric="li_sparse_r", brdf_terms_path=tmp_path / "t.npz")
    with NeonTile(path) as t:
        keys, code, terms = read_tile_terms(tmp_path / "t.npz", t, KernelShape(geometric="li_sparse_r"))
        assert read_tile_terms(tmp_path / "t.npz", t, KernelShape()) is None
    with np.load(tmp_path / "s.npz") as s:
        assert [f for f, _ in keys] == s["line_files"].tolist()
    assert np.isfinite(terms).all() and np.abs(terms[1]).max() > 0
    sample_tile(path, tmp_path / "s2.npz", tile_id=tid, n_samples=100, brdf_samples=200)
    assert sorted(p.name for p in tmp_path.glob("*.npz")) == ["s.npz", "s2.npz", "t.npz"]
