"""aopflow.publish.render and aopflow.publish.sitemap without a browser: colours and legends
hand-computed, popups and sparklines, class tables, the overview size and the map budget."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pandas as pd
import pytest
import rasterio
from matplotlib import colormaps
from PIL import Image
from rasterio.warp import transform_bounds

from aopflow.errors import InputDataError
from aopflow.products import CLASS_COLORS, WQI_COLORS
from aopflow.publish import render, sitemap
from aopflow.publish.render import (class_colours, colour_classes, colour_ramp,
                                    read_web_mercator, stretch_rgb)
from aopflow.publish.sitemap import (class_labels_from_table, format_value, plot_popup,
                                     sparkline_svg, write_site_map)
from publish_fixtures import EPSG, TRANSFORM, make_run


def rgb(hexcolour):
    return tuple(int(hexcolour[i:i + 2], 16) for i in (1, 3, 5))


def test_wqi_and_class_colours():
    assert class_colours("wqi", [1, 3]) == [(1, WQI_COLORS[1][0], f"1: {WQI_COLORS[1][1]}"),
                                            (3, WQI_COLORS[3][0], f"3: {WQI_COLORS[3][1]}")]
    assert class_colours("sam", [0, 2, 13], {2: "soil"}) == [
        (0, "#ffffff", "0: unclassified"), (2, CLASS_COLORS[1], "2: soil"),
        (13, CLASS_COLORS[0], "13: class 13")]  # 12 colours, then again


def test_colour_classes_hand_computed():
    arr = np.array([[1.0, 2.0], [np.nan, 1.0]])
    index, palette, legend = colour_classes(arr, "species", {1: "pine", 2: "oak"})
    rgba = palette[index]
    assert rgba[0, 0].tolist() == [*rgb(CLASS_COLORS[0]), 255]
    assert rgba[0, 1].tolist() == [*rgb(CLASS_COLORS[1]), 255]
    assert rgba[1, 0, 3] == 0  # no data transparent
    assert legend == {"type": "classes", "entries": [[CLASS_COLORS[0], "1: pine"],
                                                      [CLASS_COLORS[1], "2: oak"]]}


def test_colour_ramp_ends_clip_and_nan():
    arr = np.array([[0.0, 1.0], [2.0, np.nan], [0.5, 0.25]])
    index, palette, legend = colour_ramp(arr, "viridis", 0.0, 1.0, "m")
    assert index.tolist() == [[0, 254], [254, 255], [127, 64]]  # round(254 t); 2.0 clipped
    rgba = palette[index]
    lo = (np.array(colormaps["viridis"](0.0)[:3]) * 255).round()
    hi = (np.array(colormaps["viridis"](1.0)[:3]) * 255).round()
    assert rgba[0, 0, :3].tolist() == lo.tolist()
    assert rgba[0, 1, :3].tolist() == hi.tolist()
    assert rgba[1, 1, 3] == 0 and rgba[0, 0, 3] == 255
    assert (legend["min"], legend["max"], legend["unit"]) == (0.0, 1.0, "m")
    assert len(legend["colours"]) == render.LEGEND_STOPS


def test_indexed_png_round_trip():
    index = np.array([[0, 1], [255, 1]], np.uint8)
    palette = np.zeros((256, 4), np.uint8)
    palette[0], palette[1] = (10, 20, 30, 255), (200, 100, 0, 255)
    png = render.encode_indexed_png(index, palette)
    back = np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))
    assert back.tolist() == palette[index].tolist()


def test_stretch_rgb_hand_computed():
    a = np.array([[[0.0, 0.5, 1.0]], [[0.2, 0.2, 0.4]], [[0.0, 0.0, np.nan]]])
    rgba = stretch_rgb(a, pct=0)
    assert rgba[0, :, 0].tolist() == [0, 128, 255]  # 0.5 -> 127.5 rounds to 128
    assert rgba[0, :, 1].tolist() == [0, 0, 255]
    assert rgba[0, :, 3].tolist() == [255, 255, 0]


def test_ramps_by_product():
    assert render.ramp_name("ndvi") == render.ramp_name("s2_ndvi_median") == "RdYlGn"
    assert render.ramp_name("index_EVI") == "RdYlGn"
    assert render.ramp_name("chm") == render.DEFAULT_RAMP


def test_format_value():
    assert format_value(0.6097969114780426) == "0.6098"
    assert format_value(19.0) == "19"
    assert format_value(float("nan")) == "-"
    assert format_value("<b>") == "&lt;b&gt;"


def test_class_labels_from_tables(tmp_path):
    em = tmp_path / "endmembers.csv"
    pd.DataFrame({"wavelength_nm": [500, 600], "grass": [0.1, 0.2], "soil": [0.2, 0.3]}).to_csv(
        em, index=False)
    assert class_labels_from_table(em) == {1: "grass", 2: "soil"}
    t = tmp_path / "species_classes.csv"
    pd.DataFrame({"code": [3, 1], "taxon": ["ABCO", "PIPO"]}).to_csv(t, index=False)
    assert class_labels_from_table(t) == {3: "ABCO", 1: "PIPO"}
    pd.DataFrame({"x": [1]}).to_csv(t, index=False)
    with pytest.raises(InputDataError, match="code column"):
        class_labels_from_table(t)


def test_class_tables_found_by_name(tmp_path):
    paths = [tmp_path / "endmembers.csv", tmp_path / "mosaic/species_classes.csv",
             tmp_path / "zonal/ndvi.csv"]
    assert sitemap.class_tables_of(paths) == {"sam": paths[0], "sid": paths[0],
                                              "species": paths[1]}


def test_species_stage_class_table_labels_the_species_map(tmp_path):
    # The species stage writes species/classes.csv (code, taxonID, scientificName, ...): the map
    # labels mosaic/species.tif from it, with the scientific names.
    t = tmp_path / "species" / "classes.csv"
    t.parent.mkdir()
    pd.DataFrame({"code": [1, 2], "taxonID": ["PIPO", "ABCO"],
                  "scientificName": ["Pinus ponderosa", "Abies concolor"],
                  "n_individuals": [12, 30], "n_pixels": [400, 900]}).to_csv(t, index=False)
    assert sitemap.class_tables_of([t, tmp_path / "zonal" / "ndvi.csv"]) == {"species": t}
    assert class_labels_from_table(t) == {1: "Pinus ponderosa", 2: "Abies concolor"}


def test_tables_told_apart_by_place(tmp_path):
    # A table with the plot id and a date that is not the Sentinel-2 time series (the species
    # stage's stems.csv) neither replaces the series nor becomes a zonal table.
    def csv(rel, **cols):
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(cols).to_csv(p, index=False)
        return p
    series = csv("s2/ndvi_timeseries.csv", plotID=["A"], date=["2024-06-01"], used=[True], mean=[0.4])
    zonal = csv("zonal/ndvi.csv", plotID=["A"], mean=[0.5])
    stems = csv("species/stems.csv", plotID=["A"], date=["2024-06-20"], taxonID=["PIPO"])
    z, s = sitemap._read_tables([series, zonal, stems], "plotID", tmp_path)
    assert list(z) == ["ndvi"] and s["mean"].tolist() == [0.4]


def test_sparkline_and_popup():
    svg = sparkline_svg(["2024-06-01", "2024-07-01", "2024-08-01"], [0.2, float("nan"), 0.6])
    assert svg.count("<circle") == 2 and "2 dates" in svg
    assert sparkline_svg(["2024-06-01"], [float("nan")]) == ""
    zonal = {"ndvi": pd.DataFrame({"plotID": ["A"], "note": ["x"], "mean": [0.51234]})
             .set_index("plotID")}
    series = pd.DataFrame({"plotID": ["A", "A", "B"], "date": ["2024-06-01", "2024-07-01",
                                                               "2024-06-01"],
                           "used": [True, False, True], "mean": [0.3, 0.9, 0.5]})
    html = plot_popup("A", zonal, series, "plotID")
    assert '<tr data-raster="ndvi" data-stat="mean"><td>ndvi</td><td>mean</td><td>0.5123</td>' in html
    assert "note" not in html  # text columns are not statistics
    assert "1 dates" in html  # the unused date is left out


def test_overview_bounds_and_class_codes(tmp_path):
    root = tmp_path / "r"
    make_run(root)
    arr, bounds = read_web_mercator(root / "mosaic/sam.tif", max_px=16, categorical=True)
    assert max(arr.shape[1:]) == 16
    assert set(np.unique(arr[np.isfinite(arr)])) <= {0.0, 1.0, 2.0}  # nearest: codes only
    with rasterio.open(root / "mosaic/sam.tif") as src:
        w, s, e, n = transform_bounds(src.crs, "EPSG:4326", *src.bounds, densify_pts=21)
    (s2, w2), (n2, e2) = bounds
    # The overview covers the raster (up to one overview pixel of rounding).
    assert w2 <= w + 1e-9 and s2 <= s + 1e-9
    assert e2 >= e - 1e-9 and n2 >= n - 1e-9
    assert e2 - e < (e - w) / 8 and s - s2 < (n - s) / 8
    arr, _ = read_web_mercator(root / "mosaic/sam.tif", max_px=1000, categorical=True)
    assert max(arr.shape[1:]) == 40  # never finer than the source (40 x 30)


def test_species_layer_appears_with_its_table(tmp_path):
    root = tmp_path / "results" / "SITE" / "2024"
    inputs = make_run(root, species=True)
    html = write_site_map(inputs=inputs, root=root, html_path=root / "map.html", site="SITE",
                          year=2024, id_column="plotID", tiles_csv=root / "tiles.csv",
                          categorical=["species"])
    data = page_data(html.read_text())
    species = next(l for l in data["layers"] if l["name"] == "species")
    assert species["legend"]["entries"][0] == [CLASS_COLORS[0], "1: Pinus ponderosa"]
    assert [l["name"] for l in data["layers"]][:2] == ["rgb", "ndvi"]
    assert {f["properties"]["plotID"] for f in data["plots"]["features"]} == {"P1", "P2"}
    assert len(data["tiles"]["features"]) == 2
    # Without the species product the layer is simply absent.
    html = write_site_map(inputs=[p for p in inputs if "species" not in p.name], root=root,
                          html_path=root / "map2.html", site="SITE", year=2024,
                          id_column="plotID")
    assert "species" not in {l["name"] for l in page_data(html.read_text())["layers"]}


def page_data(page: str) -> dict:
    m = re.search(r'<script id="aopflow-data" type="application/json">(.*?)</script>', page, re.S)
    return json.loads(m.group(1))


def test_page_links_nothing_outside(tmp_path):
    root = tmp_path / "r" / "S" / "2024"
    inputs = make_run(root)
    page = write_site_map(inputs=inputs, root=root, html_path=root / "map.html", site="S",
                          year=2024, id_column="plotID").read_text()
    js, _ = sitemap.leaflet_assets()
    assert js in page  # Leaflet inlined; its own strings (an attribution link) are inert
    assert not re.search(r'(src|href)\s*=\s*["\']?(https?:)?//', page.replace(js, ""))
    assert "url(images/" not in page and "sourceMappingURL" not in page
    assert page_data(page)["basemap"] is None


def noise_run(root, n_layers: int, size: int):
    """``n_layers`` incompressible (random) mosaics of size x size pixels: the worst case."""
    from aopflow.raster import write_cog

    rng = np.random.default_rng(1)
    paths = []
    for i in range(n_layers):
        p = root / f"mosaic/noise{i}.tif"
        p.parent.mkdir(parents=True, exist_ok=True)
        write_cog(p, rng.random((size, size), dtype=np.float32), crs=EPSG, transform=TRANSFORM,
                  nodata=np.nan, overview_resampling="average")
        paths.append(p)
    return paths


def test_budget_shrinks_layers(tmp_path):
    root = tmp_path / "r"
    inputs = noise_run(root, n_layers=4, size=300)
    html = write_site_map(inputs=inputs, root=root, html_path=root / "map.html", site="S",
                          year=2024, id_column="plotID", max_px=300, max_mb=0.2)
    layers = page_data(html.read_text())["layers"]
    assert all(max(l["shape"]) < 300 for l in layers)  # rendered smaller than max_px
    assert sum(len(l["src"]) for l in layers) <= 0.2 * 2**20
    assert html.stat().st_size < 0.2 * 2**20 + 300_000  # + Leaflet and the page


def test_budget_impossible_is_an_error(tmp_path):
    root = tmp_path / "r"
    inputs = noise_run(root, n_layers=2, size=300)
    with pytest.raises(InputDataError, match="publish.map_max_mb"):
        write_site_map(inputs=inputs, root=root, html_path=root / "map.html", site="S",
                       year=2024, id_column="plotID", max_px=300, max_mb=0.001)


def test_map_path_of_merged_configs(tmp_path, monkeypatch):
    from aopflow.publish.open import map_path

    (tmp_path / "config").mkdir()
    (tmp_path / "config/config.yaml").write_text("site: DEMO\nyear: 2024\noutdir: results\n")
    (tmp_path / "my.yaml").write_text("site: SJER\n")
    monkeypatch.chdir(tmp_path)
    assert map_path() == tmp_path.joinpath("results/DEMO/2024/map.html").relative_to(tmp_path)
    assert map_path(["my.yaml"]).as_posix() == "results/SJER/2024/map.html"
