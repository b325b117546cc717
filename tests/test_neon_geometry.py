"""The reader's acquisition geometry: Data_Selection_Index -> Data_Files -> Logs/<HHMMSS>
(aopflow.neon.geometry.resolve_flight_lines, NeonTile.read_geometry) on hand-made tiles."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from aopflow.demo.aop import write_tile
from aopflow.errors import NeonFormatError
from aopflow.neon.geometry import resolve_flight_lines
from aopflow.neon.reader import NeonTile

from conftest import tiny_spec

FILES = [f"NEON_D02_SERC_DP1_2019060{d}_{t}_reflectance.h5"
         for d, t in [(4, "150649"), (4, "151125"), (4, "151614"), (5, "160154"), (5, "160742")]]


def _logs(tmp_path, groups: dict[str, tuple[float, float] | None]):
    f = h5py.File(tmp_path / "logs.h5", "w")
    logs = f.create_group("Logs")
    for name, angles in groups.items():
        g = logs.create_group(name)
        if angles is not None:
            g.create_dataset("Solar_Zenith_Angle", data=np.float32(angles[0]))
            g.create_dataset("Solar_Azimuth_Angle", data=np.float32(angles[1]))
    return f, logs


def test_values_map_to_their_logs_groups(tmp_path):
    # Data_Files lists 5 lines, the tile's Logs only the 2 it uses; values are not in the
    # sorted order of the Logs group names; the attribute comes back as bytes, with spaces.
    f, logs = _logs(tmp_path, {"160742": (41.5, 230.25), "151125": (28.0, 141.0)})
    with f:
        attr = (" , ".join(FILES)).encode()
        lines = resolve_flight_lines("tile.h5", attr, np.array([-1, 4, 1, 4, 1]), logs)
    assert sorted(lines) == [1, 4]
    assert lines[4].file == FILES[4] and lines[4].time == "160742" and lines[4].date == "20190605"
    assert (lines[4].solar_zenith, lines[4].solar_azimuth) == (41.5, 230.25)
    assert (lines[1].solar_zenith, lines[1].solar_azimuth, lines[1].date) == (28.0, 141.0, "20190604")
    # A str attribute (in a 1-element array) gives the same.
    with _logs(tmp_path, {"160742": (41.5, 230.25), "151125": (28.0, 141.0)})[0] as f2:
        again = resolve_flight_lines("tile.h5", np.array([",".join(FILES)], dtype=object), [1, 4], f2["Logs"])
    assert again == lines


def test_no_values_need_no_metadata():
    assert resolve_flight_lines("tile.h5", None, [-1, -1], None) == {}


@pytest.mark.parametrize(
    ("attr", "values", "groups", "expected"),
    [
        (None, [0], {"150649": (30, 140)}, "tile.h5: Metadata/Ancillary_Imagery/Data_Selection_Index has no 'Data_Files' attribute"),
        (",".join(FILES[:2]), [3], {"150649": (30, 140)}, "tile.h5: Data_Selection_Index value 3 is past the 2 file names"),
        ("NEON_D02_SERC_DP1_L004-1_reflectance.h5", [0], {"150649": (30, 140)},
         "tile.h5: Data_Selection_Index value 0 names line file 'NEON_D02_SERC_DP1_L004-1_reflectance.h5', which has no flight day and time"),
        (",".join(FILES), [2], {"150649": (30, 140)},
         f"tile.h5: Data_Selection_Index value 2 names line file '{FILES[2]}', but its Logs group Metadata/Logs/151614 is missing"),
        (",".join(FILES), [0], {"150649": None}, "tile.h5: Metadata/Logs/150649 (line"),
    ],
)
def test_errors_name_tile_value_file_and_what_is_missing(tmp_path, attr, values, groups, expected):
    f, logs = _logs(tmp_path, groups)
    with f, pytest.raises(NeonFormatError) as err:
        resolve_flight_lines("/data/tile.h5", attr, values, logs)
    assert str(err.value).startswith(expected), str(err.value)


def test_missing_logs_group(tmp_path):
    with pytest.raises(NeonFormatError, match="tile.h5: no Metadata/Logs group: the solar angles of the flight lines"):
        resolve_flight_lines("tile.h5", ",".join(FILES), [0], None)


def test_read_geometry_of_a_generated_001_tile(tmp_path):
    spec = tiny_spec(revision="001", shape=(1, 1), pixels=30, bands=40)
    path = write_tile(spec, spec.tile_ids()[0], tmp_path)
    with NeonTile(path) as t:
        geo = t.read_geometry()
        md = t._f[t.meta.site]["Reflectance"]["Metadata"]
        dsi = md["Ancillary_Imagery"]["Data_Selection_Index"][()]
        files = md["Ancillary_Imagery"]["Data_Selection_Index"].attrs["Data_Files"]
        files = (files.decode() if isinstance(files, bytes) else str(files)).split(",")
        logs = md["Logs"]
        for v in np.unique(dsi[dsi >= 0]):
            hhmmss = files[v].split("_")[5]
            sel = geo.line == v
            assert np.all(geo.solar_zenith[sel] == logs[hhmmss]["Solar_Zenith_Angle"][()])
            assert np.all(geo.solar_azimuth[sel] == logs[hhmmss]["Solar_Azimuth_Angle"][()])
        np.testing.assert_array_equal(geo.view_zenith, md["to-sensor_zenith_angle"][()])
        np.testing.assert_array_equal(geo.slope, md["Ancillary_Imagery"]["Slope"][()])
    assert np.all(np.isnan(geo.solar_zenith[dsi < 0])) and np.all(geo.line[dsi < 0] == -1)


def test_read_geometry_on_a_tile_without_ancillary_layers(real_fixture):
    with NeonTile(real_fixture) as t, pytest.raises(NeonFormatError, match="layer 'Data_Selection_Index' is missing"):
        t.read_geometry()
