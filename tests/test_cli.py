"""The ``aopflow`` command: ``aopflow info`` on the real fixture, generated tiles of both
revisions and bad files, through main(), ``python -m`` and the installed console script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aopflow.cli import main
from aopflow.neon.reader import NeonTile, read_meta


def run_cli(*args: str, module: str = "aopflow") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=120)


def test_info_real_fixture_text_and_json(real_fixture, capsys):
    assert main(["info", str(real_fixture)]) == 0
    out = capsys.readouterr().out
    for expected in ("SJER", "DP3.30006.001 (revision 001)", "EPSG:32611",
                     "left 257000, bottom 4111970, right 257030, top 4112000 (m)", "1 x 1 m",
                     "30 rows x 30 cols x 426 bands (int32)", "383.53 - 2511.89 nm",
                     "nodata        -9999", "scale factor  10000",
                     "1340-1445, 1790-1955 nm (defaults", "13 x 13 x 13 chunks, gzip level 4",
                     "ancillary     none"):
        assert expected in out, expected
    assert main(["info", "--json", str(real_fixture)]) == 0
    (info,) = json.loads(capsys.readouterr().out)
    assert info["site"] == "SJER" and info["revision"] == "001" and info["crs"] == "EPSG:32611"
    assert info["bounds"] == {"left": 257000, "bottom": 4111970, "right": 257030, "top": 4112000}
    assert (info["rows"], info["cols"], info["bands"]) == (30, 30, 426)
    assert info["wavelength_nm"] == pytest.approx([383.5343, 2511.8945], abs=1e-4)
    assert info["nodata"] == -9999 and info["scale_factor"] == 10000
    assert info["band_windows_nm"] == [[1340, 1445], [1790, 1955]] and not info["band_windows_in_file"]
    assert info["chunks"] == [13, 13, 13] and info["compression"] == "gzip"
    assert info["compression_opts"] == 4 and info["ancillary"] == []


@pytest.mark.parametrize("revision", ["001", "002"])
def test_info_generated_tiles_match_the_reader(revision, site_001, site_002, capsys):
    spec, paths = site_001 if revision == "001" else site_002
    assert main(["info", "--json", *map(str, paths[:2])]) == 0
    infos = json.loads(capsys.readouterr().out)
    assert [i["path"] for i in infos] == [str(p) for p in paths[:2]]
    info, m = infos[0], read_meta(paths[0])
    assert info["tile"] == spec.tile_ids()[0] and info["site"] == spec.site
    assert info["revision"] == revision and info["product"] == f"DP3.30006.{revision}"
    assert info["pixel_size_m"] == [spec.pixel_size, spec.pixel_size]
    assert [info["bounds"][k] for k in ("left", "bottom", "right", "top")] == list(m.bounds)
    assert info["dtype"] == "int16" and info["chunks"] == list(m.chunks)
    assert info["band_windows_in_file"]
    layers = {a["name"]: a for a in info["ancillary"]}
    assert len(layers) == (17 if revision == "002" else 16)  # + the two to-sensor angles
    wqi = layers["Weather_Quality_Indicator"]
    assert wqi["nodata"] == 0
    assert wqi["dtype"] == ("int16" if revision == "002" else "uint8")
    assert wqi["shape"] == ([spec.pixels] * 2 if revision == "002" else [spec.pixels] * 2 + [3])
    with NeonTile(paths[0]) as t:
        for name, a in layers.items():
            assert a["nodata"] == t.read_layer(name)[1], name
    assert layers["Data_Selection_Index"]["nodata"] == -1
    # The text form names every layer with its dtype.
    assert main(["info", str(paths[0])]) == 0
    out = capsys.readouterr().out
    assert f"DP3.30006.{revision} (revision {revision})" in out
    assert all(name in out for name in layers)


def test_info_bad_files_report_the_reader_error_and_fail(tmp_path, site_002):
    _, paths = site_002
    trunc = tmp_path / "NEON_D00_TEST_DP3_500000_4100000_bidirectional_reflectance.h5"
    trunc.write_bytes(paths[0].read_bytes()[:4000])
    res = run_cli("info", str(trunc))
    assert res.returncode == 1
    assert "not a readable HDF5 file (4000 bytes" in res.stderr and "delete it and fetch it again" in res.stderr
    assert "Traceback" not in res.stderr and res.stdout == ""
    # Several files: each is reported, the good one printed, the exit status says one failed.
    res = run_cli("info", str(paths[0]), str(trunc), str(tmp_path / "missing.h5"))
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert str(paths[0]) in res.stdout and "missing.h5: file does not exist" in res.stderr
    assert "2 of 3 files failed" in res.stderr
    res = run_cli("info", "--json", str(paths[0]), str(trunc))
    assert res.returncode == 1
    ok, bad = json.loads(res.stdout)
    assert ok["site"] == "TEST" and bad["path"] == str(trunc) and "truncated" in bad["error"]


def test_help_and_entry_points(real_fixture):
    for module in ("aopflow", "aopflow.cli"):
        res = run_cli("--help", module=module)
        assert res.returncode == 0 and "info" in res.stdout and "snakemake" in res.stdout
    res = run_cli("info", "--help")
    assert res.returncode == 0 and "--json" in res.stdout and "bad-band windows" in res.stdout
    res = run_cli()
    assert res.returncode == 2 and "COMMAND" in res.stderr
    # The console script pyproject.toml installs (`pip install -e .`, as `make test` does).
    script = Path(sys.executable).parent / "aopflow"
    if not script.exists():
        pytest.fail(f"console script {script} is not installed: run `pip install -e .`")
    res = subprocess.run([str(script), "info", str(real_fixture)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "SJER" in res.stdout and "EPSG:32611" in res.stdout
