"""Start-up checks (aopflow.startup): one config key against another, before any job runs."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml
from snakemake.utils import validate

from aopflow.errors import ConfigError, InputDataError
from aopflow.spectral import write_endmember_csv
from aopflow.demo.aop import generate_site
from aopflow.startup import DEMO_KEYS, aop_pixel_size, check_config

from conftest import ROOT, tiny_spec

MOSAICS = {"rgb", "reflectance", "wqi", "abundance", "sam", "sid", "ndvi"}


@pytest.fixture(scope="module")
def shipped() -> dict:
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    validate(cfg, str(ROOT / "config" / "schema.yaml"))
    return cfg


def check(cfg, library=None, pixel_size=(10.0, "demo.pixel_size"), zonal=("ndvi", "wqi")):
    check_config(cfg, library=library, mosaics=MOSAICS, zonal_names=list(zonal),
                 continuous_zonal=any(z not in ("wqi", "sam", "sid") for z in zonal), pixel_size=pixel_size)


def edited(cfg, section, **values):
    out = copy.deepcopy(cfg)
    out[section] = {**out[section], **values}
    return out


def test_shipped_config_passes(shipped):
    check(shipped)


@pytest.mark.parametrize("key", ["sam_max_angle", "sid_max_divergence"])
def test_threshold_list_must_match_endmembers_n(shipped, key):
    check(edited(shipped, "classify", **{key: [0.1] * 5}))  # endmembers.n is 5
    check(edited(shipped, "classify", **{key: 0.1}))  # one number for all
    with pytest.raises(ConfigError, match=rf"classify.{key} has 3 values .* 5 endmembers, set by endmembers.n"):
        check(edited(shipped, "classify", **{key: [0.1, 0.2, 0.3]}))
    # Also with spectral: false (zonal or downscale may still ask for the class maps).
    with pytest.raises(ConfigError, match=rf"classify.{key} has 3 values"):
        check(edited({**shipped, "spectral": False}, "classify", **{key: [0.1, 0.2, 0.3]}))


def test_threshold_list_must_match_the_library(shipped, tmp_path):
    lib = tmp_path / "lib.csv"
    write_endmember_csv(lib, np.array([400.0, 500.0, 600.0]), np.ones((3, 3)), ["grass", "soil", "roof"])
    cfg = edited(shipped, "classify", sam_max_angle=[0.1, 0.2, 0.3])  # endmembers.n (5) does not apply
    check(cfg, library=str(lib))
    with pytest.raises(ConfigError, match=r"sam_max_angle has 5 values.*endmembers.library.*3 spectra"):
        check(edited(shipped, "classify", sam_max_angle=[0.1] * 5), library=str(lib))
    bad = tmp_path / "bad.csv"
    bad.write_text("nm,a\n1,2\n")
    with pytest.raises(InputDataError, match="bad.csv.*wavelength_nm"):
        check(shipped, library=str(bad))


def test_mosaic_names(shipped):
    with pytest.raises(ConfigError, match=r"downscale.products: \['ndvii'\] is not a mosaic"):
        check(edited(shipped, "downscale", products=["ndvi", "ndvii"]))
    with pytest.raises(ConfigError, match=r"zonal.rasters: \['chm'\].*chm needs source: neon"):
        check(edited(shipped, "zonal", rasters=["ndvi", "chm"]), zonal=("ndvi", "chm"))
    # A user GeoTIFF is not a mosaic name; without a zonal stage nothing is checked.
    check(edited(shipped, "zonal", rasters=["ndvi", "my/chm.tif"]), zonal=("ndvi", "chm"))
    check(edited(shipped, "zonal", rasters=["nope"]), zonal=())


def test_figure_stat_must_be_computed(shipped):
    check(edited(shipped, "zonal", figure_stat="p90"))
    with pytest.raises(ConfigError, match=r"zonal.figure_stat is 'p50'.*p10.*p90"):
        check(edited(shipped, "zonal", figure_stat="p50"))
    # Class maps alone draw the majority class: figure_stat is not used.
    check(edited(shipped, "zonal", figure_stat="p50"), zonal=("wqi",))


def test_downscale_resolutions_are_multiples_of_the_pixel_size(shipped):
    with pytest.raises(ConfigError, match=r"15 m in downscale.resolutions.*pixel size 10.0 m.*demo.pixel_size"):
        check(edited(shipped, "downscale", resolutions=[50, 15]))
    check(edited(shipped, "downscale", resolutions=[15]), pixel_size=None)  # neon: unknown yet
    check(edited(shipped, "downscale", resolutions=[3]), pixel_size=(1.0, "tile x.h5"))


@pytest.mark.parametrize("key", sorted(DEMO_KEYS))
@pytest.mark.parametrize("source", ["local", "neon"])
def test_demo_data_needs_the_demo_source(shipped, key, source):
    section, name = key.split(".")
    cfg = {**shipped, "source": source}
    for other in DEMO_KEYS:  # every other demo key off: the error names this one
        if other != key:
            cfg = edited(cfg, other.split(".")[0], **{other.split(".")[1]: None})
    cfg = edited(cfg, section, **{name: "demo"})
    with pytest.raises(ConfigError, match=rf"^{key} is 'demo', .* this run uses source: {source}; set {key} to "):
        check(cfg)
    # Off, or the demo source: nothing to say.
    check(edited(cfg, section, **{name: None}))
    check({**cfg, "source": "demo"})


def test_the_shipped_demo_keys_are_demo_values(shipped):
    # DEMO_KEYS names real keys whose shipped value is the demo (else the guard guards nothing).
    for key in DEMO_KEYS:
        section, name = key.split(".")
        assert shipped[section][name] == "demo", key


def test_aop_pixel_size_of_each_source(shipped, tmp_path):
    assert aop_pixel_size({**shipped, "demo": {**shipped["demo"], "pixel_size": 20.0}}) == (20.0, "demo.pixel_size")
    assert aop_pixel_size({**shipped, "source": "neon"})[0] == 1.0
    local = {**shipped, "source": "local"}
    assert aop_pixel_size(local) is None  # no tile to read
    spec = tiny_spec(site="LOCL", shape=(1, 1), pixels=8, pixel_size=25.0, bands=20)
    (path,) = generate_site(spec, tmp_path)
    assert aop_pixel_size(local, path) == (25.0, f"tile {path.name}")


def test_index_names_checked_against_the_catalogue(shipped):
    check(shipped)  # the shipped list (NEON's ten) and SAVI's constant pass
    bad = {**copy.deepcopy(shipped), "indices": ["NDVI", "EVl"]}
    with pytest.raises(ConfigError, match=r"'EVl' is not a spectral index.*Did you mean EVI"):
        check(bad)
    bad = {**copy.deepcopy(shipped), "index_constants": {"SAVI": {"gamma": 1.0}}}
    with pytest.raises(ConfigError, match=r"index_constants.SAVI: \['gamma'\] not used by SAVI"):
        check(bad)


def test_index_mosaics_by_name_need_the_index(shipped):
    cfg = edited(shipped, "downscale", products=["index_EVI"])
    check_config(cfg, library=None, mosaics=MOSAICS | {"index_EVI"}, zonal_names=["ndvi"],
                 continuous_zonal=True, pixel_size=(10.0, "demo.pixel_size"))
    with pytest.raises(ConfigError, match=r"index_\{NAME\} needs NAME in indices"):
        check_config(cfg, library=None, mosaics=MOSAICS, zonal_names=["ndvi"],
                     continuous_zonal=True, pixel_size=(10.0, "demo.pixel_size"))


def test_s2_index_composite_downscale_needs_its_bands(shipped):
    s2 = {**shipped["sentinel2"], "source": "demo"}
    ok = {**edited(shipped, "downscale", products=["s2_index_SAVI_median"], resolutions=[50]),
          "sentinel2": s2}
    check(ok)
    bad = {**edited(shipped, "downscale", products=["s2_index_EVI_median"], resolutions=[50]),
           "sentinel2": s2}
    with pytest.raises(ConfigError, match=r"no Sentinel-2 composite of EVI \(needs asset\(s\) blue"):
        check(bad)
    bad = {**edited(shipped, "downscale", products=["s2_index_GNDVI_median"], resolutions=[50]),
           "sentinel2": s2}
    with pytest.raises(ConfigError, match=r"\['GNDVI'\], which are not in indices"):
        check(bad)
