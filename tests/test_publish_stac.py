"""aopflow.publish.stac: the catalog validates offline, its checksums and grids are the files',
and odc-stac / stackstac loads of it equal rasterio reads of the files."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio

from aopflow.errors import InputDataError
from aopflow.publish import layout
from aopflow.publish.stac import (EXTENSIONS, band_entries, build_items, sha256_multihash,
                                  write_catalog)
from aopflow.raster import write_cog
from aopflow.sentinel2.load import quiet_third_party
from publish_fixtures import EPSG, make_run
from stac_offline import SCHEMA_MAP, no_network, validate_offline  # noqa: F401 (fixture)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("pub") / "results" / "SITE" / "2024"
    inputs = make_run(root, species=True)
    report = root.parents[2] / "report.html"
    cat = write_catalog(inputs=inputs, root=root, catalog=root / "stac/catalog.json",
                        site="SITE", year=2024, config={"site": "SITE", "year": 2024},
                        report=report, categorical=["species"])
    return root, inputs, cat


def items_by_id(cat_path) -> dict[str, pystac.Item]:
    cat = pystac.Catalog.from_file(str(cat_path))
    return {i.id: i for i in cat.get_items(recursive=True)}


def read(path, band=1):
    with rasterio.open(path) as src:
        return src.read(band), src


def test_multihash_of_abc():
    # SHA2-256("abc") = ba7816bf...15ad (FIPS 180-2, appendix B.1); multihash prefix 0x12 0x20.
    assert hashlib.sha256(b"abc").hexdigest().startswith("ba7816bf")


def test_sha256_multihash_hand_computed(tmp_path):
    p = tmp_path / "abc.txt"
    p.write_bytes(b"abc")
    assert sha256_multihash(p) == (
        "1220ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")


def test_band_entries_wavelengths_and_s2_names():
    assert band_entries(["band9_672.5nm", "550", "red", "em1", None]) == [
        {"name": "band9_672.5nm", "center_wavelength": 0.6725},
        {"name": "550", "center_wavelength": 0.55},
        {"name": "B04", "common_name": "red", "center_wavelength": 0.665},
        {"name": "em1"},
        {"name": "b5"},
    ]


def test_layout_classifies_by_path(tmp_path):
    c = lambda rel: layout.classify_raster(tmp_path / rel, tmp_path)  # noqa: E731
    assert (c("mosaic/species.tif").collection, c("mosaic/species.tif").item) == ("aop", "species")
    assert c("downscale/ndvi_50m.tif").item == "ndvi_50m"
    assert c("downscale/s2_ndvi_median_50m.tif").collection == "s2"
    d = c("s2/dates/2024-06-15/ndvi.tif")
    assert (d.item, d.key, d.product, d.date) == ("2024-06-15", "ndvi", "s2_ndvi_2024-06-15",
                                                  "2024-06-15")
    assert c("s2/composite/2024-06/ndvi_median.tif").item == "composite-2024-06"
    assert c("tiles/500000_4100000/ndvi.tif") is None
    for rel in ("s2/timeseries/ndvi.csv", "zonal/s2_ndvi_timeseries.csv", "tables/aop_vs_s2.csv"):
        assert layout.table_collection(rel) == "s2", rel
    for rel in ("endmembers.csv", "zonal/ndvi.csv", "tables/mean_abundance.csv"):
        assert layout.table_collection(rel) == "aop", rel


def test_items_and_assets(run):
    root, inputs, cat = run
    items = items_by_id(cat)
    assert set(items) == {"ndvi", "rgb", "sam", "wqi", "species", "ndvi_20m", "2024-06-15",
                          "2024-08-04", "composite"}
    assert set(items["2024-06-15"].assets) == {"ndvi", "reflectance"}
    for item in items.values():
        # On disk (pystac migrates projection v1.2 to v2 when it reads an item).
        raw = json.loads(Path(item.self_href).read_text())
        assert set(EXTENSIONS) <= set(raw["stac_extensions"])
        for key, asset in item.assets.items():
            path = Path(asset.get_absolute_href())
            assert path.exists()
            assert not Path(asset.href).is_absolute()  # self-contained: relative hrefs
            f = asset.extra_fields
            with rasterio.open(path) as src:
                assert f["proj:code"] == f"EPSG:{EPSG}"
                assert f["proj:shape"] == [src.height, src.width]
                assert f["proj:transform"] == list(src.transform)[:6]
                assert [b["data_type"] for b in f["raster:bands"]] == list(src.dtypes)
            assert f["file:size"] == path.stat().st_size
            assert f["file:checksum"] == "1220" + hashlib.sha256(path.read_bytes()).hexdigest()
    # proj:epsg is on disk for readers before projection v2 (pystac drops it on reading).
    raw = json.loads((root / "stac/SITE-2024-aop/ndvi/ndvi.json").read_text())
    assert raw["assets"]["ndvi"]["proj:epsg"] == EPSG
    assert raw["assets"]["ndvi"]["raster:bands"][0]["nodata"] == "nan"
    sam = raw = json.loads((root / "stac/SITE-2024-aop/sam/sam.json").read_text())
    assert sam["assets"]["sam"]["raster:bands"][0]["nodata"] == 255
    assert sam["assets"]["sam"]["aopflow:kind"] == "classes"
    rgb = items["rgb"].assets["rgb"].extra_fields["eo:bands"]
    assert [b["center_wavelength"] for b in rgb] == [0.6725, 0.5642, 0.456]
    refl = items["2024-06-15"].assets["reflectance"].extra_fields["eo:bands"]
    assert [b["common_name"] for b in refl] == ["red", "nir"]


def test_tables_config_and_report_links(run):
    root, inputs, cat = run
    c = pystac.Catalog.from_file(str(cat))
    aop = c.get_child("SITE-2024-aop")
    assert {"endmembers", "zonal_ndvi", "zonal_ndvi_gpkg", "zonal_sam", "zonal_sam_gpkg",
            "mosaic_species_classes"} <= set(aop.assets)
    assert aop.assets["zonal_ndvi_gpkg"].media_type == "application/geopackage+sqlite3"
    em = aop.assets["endmembers"]
    assert Path(em.get_absolute_href()) == (root / "endmembers.csv").resolve()
    assert em.extra_fields["file:checksum"] == sha256_multihash(root / "endmembers.csv")
    s2 = c.get_child("SITE-2024-s2")
    assert "s2_timeseries_ndvi" in s2.assets
    links = {l.title: l for l in c.links if l.rel == "describedby"}
    config = next(l for t, l in links.items() if "configuration" in t)
    assert Path(config.get_absolute_href()).read_text().startswith("site: SITE")
    report = next(l for t, l in links.items() if "report" in t)
    assert Path(report.get_absolute_href()) == (root.parents[2] / "report.html").resolve()


def test_validates_offline_against_shipped_schemas(run, no_network):
    root, inputs, cat = run
    messages = validate_offline(cat)
    checked = [m for m in messages if m.get("asset_type") in ("ITEM", "COLLECTION", "CATALOG")]
    assert len(checked) == 1 + 2 + 9, messages
    bad = [m for m in checked if not m["valid_stac"]]
    assert not bad, json.dumps(bad, indent=1)[:3000]
    item = next(m for m in checked if m["asset_type"] == "ITEM")
    # Every extension was checked, each against its shipped copy.
    assert {SCHEMA_MAP[e] for e in EXTENSIONS} <= set(item["schema"]), item["schema"]


def test_validation_catches_a_broken_item(run, no_network, tmp_path):
    """The offline validation can fail: a wrong-typed proj:shape is reported."""
    root, inputs, cat = run
    copy = tmp_path / "stac"
    shutil.copytree(root / "stac", copy)
    p = copy / "SITE-2024-aop/ndvi/ndvi.json"
    d = json.loads(p.read_text())
    d["assets"]["ndvi"]["proj:shape"] = "thirty by forty"
    p.write_text(json.dumps(d))
    messages = validate_offline(copy / "catalog.json")
    bad = [m for m in messages if not m["valid_stac"]]
    assert [Path(m["path"]).name for m in bad] == ["ndvi.json"], messages
    assert bad[0]["failed_schema"].startswith("https://stac-extensions.github.io/projection/")


def test_odc_stac_load_equals_rasterio(run):
    import odc.stac

    root, inputs, cat = run
    items = items_by_id(cat)
    # odc-stac/odc-geo 0.5 use deprecated shapely/affine APIs (SENTINEL2.md section 2): the
    # same named warnings the Sentinel-2 stage silences around its loads.
    with quiet_third_party():
        ds = odc.stac.load([items["ndvi"]], bands=["ndvi"])
        ref, _ = read(root / "mosaic/ndvi.tif")
        np.testing.assert_array_equal(ds["ndvi"].values[0], ref)
        assert ds.odc.geobox.crs.epsg == EPSG
        ds = odc.stac.load([items["sam"]], bands=["sam"])
        ref, _ = read(root / "mosaic/sam.tif")
        assert ds["sam"].dtype == np.uint8
        np.testing.assert_array_equal(ds["sam"].values[0], ref)
        ds = odc.stac.load([items["rgb"]], bands=["rgb.1", "rgb.2", "rgb.3"])
        for b in (1, 2, 3):
            np.testing.assert_array_equal(ds[f"rgb.{b}"].values[0], read(root / "mosaic/rgb.tif", b)[0])
        dates = [items["2024-06-15"], items["2024-08-04"]]
        ds = odc.stac.load(dates, bands=["ndvi"], groupby="solar_day")
        assert [str(t)[:10] for t in ds.time.values] == ["2024-06-15", "2024-08-04"]
        for i, d in enumerate(["2024-06-15", "2024-08-04"]):
            np.testing.assert_array_equal(ds["ndvi"].values[i],
                                          read(root / f"s2/dates/{d}/ndvi.tif")[0])


def test_stackstac_load_equals_rasterio(run):
    """stackstac 0.5.1 works on NumPy 2 with float64 output, once given the EPSG (pystac drops
    proj:epsg on reading, stackstac cannot read proj:code: stackstac #262), the grid's bounds
    with ``snap_bounds=False``, and absolute hrefs (it does not resolve relative ones)."""
    import stackstac

    root, inputs, cat = run
    c = pystac.Catalog.from_file(str(cat))
    c.make_all_asset_hrefs_absolute()
    items = {i.id: i for i in c.get_items(recursive=True)}
    for key, rel in (("ndvi", "mosaic/ndvi.tif"), ("sam", "mosaic/sam.tif")):
        f = items[key].assets[key].extra_fields
        st = stackstac.stack([items[key]], assets=[key], epsg=int(f["proj:code"].split(":")[1]),
                             resolution=f["proj:transform"][0], bounds=f["proj:bbox"],
                             snap_bounds=False, rescale=False)
        ref, _ = read(root / rel)
        got = st.values[0, 0]
        assert got.shape == ref.shape
        expected = ref.astype("float64")
        if key == "sam":
            expected[ref == 255] = np.nan  # stackstac masks the nodata to its fill value NaN
        np.testing.assert_array_equal(got, expected)


def test_catalog_is_self_contained(run, tmp_path):
    """Copied with its products elsewhere, the catalog still resolves every asset."""
    root, inputs, cat = run
    copy = tmp_path / "moved"
    shutil.copytree(root, copy)
    for item in items_by_id(copy / "stac/catalog.json").values():
        for asset in item.assets.values():
            assert Path(asset.get_absolute_href()).is_relative_to(copy.resolve())


def test_rebuild_drops_items_of_products_gone(run, tmp_path):
    root, inputs, cat = run
    copy = tmp_path / "r" / "SITE" / "2024"
    shutil.copytree(root, copy)
    kept = [copy / p.relative_to(root) for p in inputs if p.name != "wqi.tif"]
    write_catalog(inputs=kept, root=copy, catalog=copy / "stac/catalog.json", site="SITE",
                  year=2024, config={}, categorical=["species"])
    assert "wqi" not in items_by_id(copy / "stac/catalog.json")
    assert not (copy / "stac/SITE-2024-aop/wqi").exists()
    assert not list(copy.glob(".stac.*"))  # no temporary folder left


def test_input_outside_the_run_is_an_error(run, tmp_path):
    root, inputs, cat = run
    outside = tmp_path / "elsewhere.tif"
    shutil.copy(root / "mosaic/ndvi.tif", outside)
    with pytest.raises(InputDataError, match="must lie under the run's folder"):
        write_catalog(inputs=[*inputs, outside], root=root, catalog=tmp_path / "c/catalog.json",
                      site="SITE", year=2024, config={})


def test_item_times(run, tmp_path):
    """AOP items span the year, a date its day, a composite the dates of its ``dates`` tag
    (all the run's dates without it)."""
    root, inputs, cat = run
    monthly = tmp_path / "r/s2/composite/2024-08/ndvi_median.tif"
    monthly.parent.mkdir(parents=True)
    with rasterio.open(root / "s2/composite/ndvi_median.tif") as src:
        write_cog(monthly, src.read(1), crs=src.crs, transform=src.transform, nodata=src.nodata,
                  overview_resampling="average", tags={"dates": "2024-08-04", "period": "month"})
    rasters, _ = layout.split_inputs(inputs, root)
    rasters.append(layout.classify_raster(monthly, tmp_path / "r"))
    items = {i.id: i for col in build_items(rasters, 2024).values() for i in col}
    span = {k: (i.properties["start_datetime"], i.properties["end_datetime"])
            for k, i in items.items()}
    assert span["ndvi"] == ("2024-01-01T00:00:00Z", "2024-12-31T23:59:59Z")
    assert span["2024-06-15"] == ("2024-06-15T00:00:00Z", "2024-06-15T23:59:59Z")
    assert span["composite"] == ("2024-06-15T00:00:00Z", "2024-08-04T23:59:59Z")
    assert span["composite-2024-08"] == ("2024-08-04T00:00:00Z", "2024-08-04T23:59:59Z")
    assert items["ndvi"].datetime is None and items["2024-06-15"].datetime is not None
    assert items["2024-08-04"].properties["aopflow:valid_fraction"] == 0.95  # its summary.csv
    assert "aopflow:valid_fraction" not in items["composite"].properties
