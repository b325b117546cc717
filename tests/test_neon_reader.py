"""The NEON tile reader: the real fixture, both product revisions, layouts, and bad input."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from aopflow.errors import ConfigError, NeonFormatError
from aopflow.demo.aop import map_info_string, write_tile
from aopflow.neon.layers import canonical_layer
from aopflow.neon.reader import (
    NeonTile,
    check_tile_in_cell,
    parse_map_info,
    read_meta,
    tile_id_from_name,
)

from aopflow.stages.tiles import local_tiles

from conftest import tiny_spec


def test_real_fixture_known_answers(real_fixture):
    with NeonTile(real_fixture) as t:
        m = t.meta
        assert m.site == "SJER"
        assert m.shape == (30, 30, 426)
        assert m.epsg == 32611
        assert m.crs.to_epsg() == 32611
        assert m.bounds == (257000.0, 4111970.0, 257030.0, 4112000.0)
        assert m.res == (1.0, 1.0)
        assert m.wavelengths[0] == pytest.approx(383.5343, abs=1e-4)
        assert m.wavelengths[-1] == pytest.approx(2511.8945, abs=1e-4)
        assert m.nodata == -9999 and m.scale_factor == 10000
        assert m.revision == "001"
        cube = t.read_bands(range(426))
        assert cube.dtype == np.int32  # hdf5r rewrote it; real tiles are int16
        assert cube.min() == 0 and cube.max() == 14998
        # The fixture has no band-window attributes: defaults apply.
        assert m.band_windows == ((1340.0, 1445.0), (1790.0, 1955.0))
        assert m.ancillary == ()


def test_real_fixture_block_reads_match_whole(real_fixture):
    with NeonTile(real_fixture) as t:
        whole = t.read_bands([5, 100, 101, 300])
        parts = [blk for _, blk in t.iter_blocks([5, 100, 101, 300], target_mb=0.01)]
    np.testing.assert_array_equal(np.concatenate(parts, axis=0), whole)


def test_map_info_fields_3_to_6_give_the_transform():
    # Real strings (SERC 368000_4306000 and SJER 257000_4111000), reproduced byte for byte.
    serc = "UTM,  1.000,  1.000,       368000.00,       4307000.0,       1.0000000,       1.0000000,  18,  North,  WGS-84,  units=Meters, 0"
    assert map_info_string(368000, 4307000, 1.0, 18) == serc
    assert parse_map_info(serc) == (368000.0, 4307000.0, 1.0, 1.0, 18)
    # [1]/[2] are the reference pixel, not the resolution: a 10 m tile keeps "1.000" there.
    ten = map_info_string(500000, 4101000, 10.0, 11)
    assert ten.split(",")[1].strip() == "1.000"
    assert parse_map_info(ten)[2:4] == (10.0, 10.0)


@pytest.mark.parametrize("revision", ["001", "002"])
def test_generated_tiles_read_back(revision, site_001, site_002):
    spec, paths = site_001 if revision == "001" else site_002
    with NeonTile(paths[0]) as t:
        m = t.meta
        assert m.revision == revision
        assert m.site == spec.site
        assert m.shape == (spec.pixels, spec.pixels, spec.bands)
        assert m.dtype == np.int16
        assert m.res == (spec.pixel_size, spec.pixel_size)
        assert tile_id_from_name(paths[0]) == spec.tile_ids()[0]
        check_tile_in_cell(m, spec.tile_ids()[0])
        n_anc = 15 if revision == "002" else 14
        assert len([a for a in m.ancillary if not a.startswith("to-sensor")]) == n_anc
        wqi, nodata = t.read_layer("Weather_Quality_Indicator")
        assert wqi.ndim == 2 and set(np.unique(wqi)) <= {0, 1, 2, 3} and nodata == 0
        # Both revisions' names for the same layer work.
        aot, _ = t.read_layer("Aerosol_Optical_Depth")
        assert aot.shape == (spec.pixels, spec.pixels)
        az, _ = t.read_layer("to-sensor_azimuth_angle")
        assert az.dtype == np.float32


def test_layouts_give_identical_pixels(tmp_path):
    spec_band = tiny_spec(chunks="band", shape=(1, 1))
    spec_leg = tiny_spec(chunks="legacy", shape=(1, 1))
    tid = spec_band.tile_ids()[0]
    a = write_tile(spec_band, tid, tmp_path / "band")
    b = write_tile(spec_leg, tid, tmp_path / "legacy")
    bands = [3, 4, 50, 119]
    with NeonTile(a) as ta, NeonTile(b) as tb:
        assert ta.meta.chunks[2] == 1 and tb.meta.chunks[2] > 1
        np.testing.assert_array_equal(ta.read_bands(bands), tb.read_bands(bands))
        for t in (ta, tb):
            blocks = [blk for _, blk in t.iter_blocks(bands, target_mb=0.05)]
            np.testing.assert_array_equal(np.concatenate(blocks), ta.read_bands(bands))


def test_scalar_or_one_element_metadata_and_any_int_dtype(tmp_path, site_002):
    spec, paths = site_002
    dst = tmp_path / paths[0].name
    with h5py.File(paths[0]) as src, h5py.File(dst, "w") as out:
        site = src[spec.site]["Reflectance"]
        g = out.create_group(spec.site).create_group("Reflectance")
        cube = site["Reflectance_Data"][()].astype(np.int32)
        d = g.create_dataset("Reflectance_Data", data=cube)
        d.attrs["Data_Ignore_Value"] = np.array([-9999.0])
        d.attrs["Scale_Factor"] = np.array([10000.0])
        cs = g.create_group("Metadata/Coordinate_System")
        for k in ("EPSG Code", "Map_Info"):
            cs.create_dataset(k, data=[site["Metadata/Coordinate_System"][k][()]])
        g.create_dataset("Metadata/Spectral_Data/Wavelength", data=site["Metadata/Spectral_Data/Wavelength"][()])
    ref = read_meta(paths[0])
    m = read_meta(dst)
    assert m.transform == ref.transform and m.epsg == ref.epsg and m.nodata == -9999
    with NeonTile(dst) as t, NeonTile(paths[0]) as r:
        np.testing.assert_array_equal(t.read_bands([1, 2]), r.read_bands([1, 2]))
        with pytest.raises(NeonFormatError, match="Weather_Quality_Indicator.*ancillary_layers"):
            t.read_layer("Weather_Quality_Indicator")


def test_not_hdf5_and_truncated_files(tmp_path, site_002):
    bad = tmp_path / "NEON_D00_TEST_DP3_500000_4100000_bidirectional_reflectance.h5"
    bad.write_text("<html>403 Forbidden</html>")
    with pytest.raises(NeonFormatError, match=str(bad.name) + ".*not a readable HDF5"):
        NeonTile(bad)
    _, paths = site_002
    trunc = tmp_path / "trunc.h5"
    trunc.write_bytes(paths[0].read_bytes()[:5000])
    with pytest.raises(NeonFormatError, match="trunc.h5.*(truncated|not a readable)"):
        NeonTile(trunc)


def test_hdf5_that_is_not_neon_reflectance(tmp_path):
    p = tmp_path / "other.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("data", data=np.zeros(3))
        f.create_group("SJER").create_group("Radiance")
    with pytest.raises(NeonFormatError, match="other.h5.*Reflectance"):
        NeonTile(p)
    q = tmp_path / "noattrs.h5"
    with h5py.File(q, "w") as f:
        f.create_group("SJER/Reflectance").create_dataset("Reflectance_Data", data=np.zeros((2, 2, 3), "i2"))
    with pytest.raises(NeonFormatError, match="noattrs.h5.*Metadata"):
        NeonTile(q)


def test_tile_outside_named_cell(site_002):
    spec, paths = site_002
    m = read_meta(paths[0])
    with pytest.raises(NeonFormatError, match="outside the 1000 m grid cell 501000_4100000"):
        check_tile_in_cell(m, "501000_4100000")


def test_file_name_without_corner(tmp_path):
    with pytest.raises(NeonFormatError, match="lower-left"):
        tile_id_from_name(tmp_path / "tile.h5")


def test_local_folder_listing_skips_hidden_and_partial_files(tmp_path, site_002):
    spec, paths = site_002
    (tmp_path / "sub").mkdir()
    a = tmp_path / paths[0].name
    b = tmp_path / "sub" / paths[1].name
    a.write_bytes(paths[0].read_bytes())
    b.write_bytes(paths[1].read_bytes())
    # Left by an interrupted copy (or aopflow's own atomic writer), in a hidden folder, not a cube.
    (tmp_path / f".{paths[2].name}.x1y2.part.h5").write_bytes(b"half")
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / paths[3].name).write_bytes(b"half")
    (tmp_path / "NEON_D10_BLAN_DP1_L001-1_2024_metadata.h5").write_bytes(b"")
    found = local_tiles(tmp_path)
    assert found == {tile_id_from_name(a): a.resolve(), tile_id_from_name(b): b.resolve()}
    (tmp_path / "sub" / paths[0].name).write_bytes(b"")
    with pytest.raises(ConfigError, match="two files for tile"):
        local_tiles(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no NEON reflectance tiles"):
        local_tiles(tmp_path / "empty")
    with pytest.raises(ConfigError, match="does not exist"):
        local_tiles(tmp_path / "nope")


def test_unknown_layer_name():
    with pytest.raises(NeonFormatError, match="Unknown ancillary layer"):
        canonical_layer("Cloud_Mask")
    assert canonical_layer("aerosol_optical_depth") == "Aerosol_Optical_Thickness"


def test_partial_reads_only_touch_requested_bands(site_002):
    _, paths = site_002
    with NeonTile(paths[0]) as t:
        sub = t.read_bands([10, 2, 10], window=(slice(5, 9), slice(0, 3)))
        full = t.read_bands(range(t.meta.bands))
    np.testing.assert_array_equal(sub, full[5:9, 0:3][:, :, [10, 2, 10]])
