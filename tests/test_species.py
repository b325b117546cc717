"""The species stage: stem geolocation, table filters, crowns, grouped CV, the demo's accuracy,
and source neon against the loopback fake NEON API."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine
from neon_server import FakeNeonServer
from pyproj import Transformer

from aopflow.demo.aop import SiteSpec, generate_site
from aopflow.demo.species import write_field_tables, write_truth
from aopflow.errors import InputDataError
from aopflow.neon.client import NeonClient
from aopflow.species.crowns import crown_labels
from aopflow.species.locate import locate_stems, points_frame, stem_offsets, utm_epsg
from aopflow.species.model import CLASSIFIERS, ModelSpec, fit, plot_folds
from aopflow.species.neon_source import VST_PRODUCT, fetch_species_tables
from aopflow.species.tables import normalise_point_id
from aopflow.stages import species as stage

# ----------------------------------------------------------------------------- geolocation


@pytest.mark.parametrize(
    "az, de, dn",
    [(0, 0.0, 10.0), (90, 10.0, 0.0), (180, 0.0, -10.0), (270, -10.0, 0.0), (30, 5.0, 8.660254037844386)],
)
def test_stem_offsets_by_hand(az, de, dn):
    got = stem_offsets(10.0, az)
    np.testing.assert_allclose(got, (de, dn), atol=1e-12)


def test_utm_zone_codes():
    assert utm_epsg("16N") == 32616
    assert utm_epsg("12") == 32612
    assert utm_epsg("18S") == 32718
    with pytest.raises(InputDataError, match="utmZone"):
        utm_epsg("99N")


def test_point_in_the_next_utm_zone_is_reprojected_then_offset():
    # Point 41 of plot P at (500100, 4100200) in the site CRS (EPSG:32611), published in zone 12.
    e12, n12 = Transformer.from_crs(32611, 32612, always_xy=True).transform(500100.0, 4100200.0)
    pts = points_frame(pd.DataFrame({"plotID": ["P", "Q"], "pointID": ["41", "41.0"], "easting": [e12, 500300.0],
                                     "northing": [n12, 4100400.0], "utmZone": ["12N", "11N"]}), "test")
    stems = pd.DataFrame({"plotID": ["P", "Q", "Q"], "pointID": ["41", "41", "33"],
                          "stemDistance": [10.0, 4.0, 1.0], "stemAzimuth": [90.0, 180.0, 0.0]})
    out = locate_stems(stems, pts, 32611)
    np.testing.assert_allclose(out.loc[0, ["easting", "northing"]].astype(float), [500110.0, 4100200.0], atol=1e-6)
    np.testing.assert_allclose(out.loc[1, ["easting", "northing"]].astype(float), [500300.0, 4100396.0], atol=1e-9)
    assert list(out["point_found"]) == [True, True, False]  # point 33 of Q is not in the file


def test_point_ids_normalised():
    assert [normalise_point_id(v) for v in (41, 41.0, "41.0", " 41 ", "A1", None, float("nan"), "")] == \
        ["41", "41", "41", "41", "A1", None, None, None]


# ----------------------------------------------------------------------------- table filters

MAP_COLS = ["uid", "namedLocation", "date", "eventID", "plotID", "pointID", "stemDistance", "stemAzimuth",
            "individualID", "taxonID", "scientificName"]
IND_COLS = ["uid", "date", "eventID", "plotID", "subplotID", "individualID", "tempStemID", "growthForm",
            "plantStatus", "height", "maxCrownDiameter", "canopyPosition"]


def _tables(tmp_path: Path, site_dir: Path):
    """Hand-made tables: one individual per rule; plot P's point 41 is at (500200, 4100300)."""
    m, a = [], []

    def add(ind, taxon="ACRU", point="41", dist=5.0, az=90.0, status="Live", form="single bole tree",
            height=15.0, crown=4.0, canopy="Full sun", date="2024-06-01", plot="P", mdate="2023-05-01"):
        m.append(["u", f"{plot}.basePlot.vst", mdate, f"vst_T_{mdate[:4]}", plot, point, dist, az, ind, taxon,
                  f"{taxon} sp."])
        a.append(["u", date, f"vst_T_{date[:4]}", plot, "31_400", ind, None, form, status, height, crown, canopy])

    for i in range(3):
        add(f"OK{i}", taxon="ACRU", az=90.0 * i)
        add(f"QU{i}", taxon="QUAL", az=45.0 + 90 * i)
    add("DEAD", status="Standing dead")
    add("SHRUB", form="single shrub", height=1.2)
    add("SHORT", height=2.0)
    add("SHADE", canopy="Full shade")
    add("NOPOINT", point=None, dist=None, az=None)
    add("BADPOINT", point="99")
    add("FAR", dist=5000.0)
    add("RARE", taxon="CACA18")
    add("DAMAGED", taxon="ACRU", status="Live,  other damage", point="41.0", crown=None)
    # Measured twice: Live and tall in 2022, dead in 2024 (the latest counts).
    add("LATER_DEAD", date="2022-06-01")
    a.append(["u", "2024-06-01", "vst_T_2024", "P", "31_400", "LATER_DEAD", None, "single bole tree",
              "Standing dead", 15.0, None, None])
    # Re-identified: an old mapping record says QUAL, the newer one ACRU.
    m.append(["u", "P.basePlot.vst", "2019-05-01", "vst_T_2019", "P", "41", 3.0, 0.0, "REID", "QUAL", "QUAL sp."])
    add("REID", taxon="ACRU", dist=3.0, az=0.0)
    # Multi-bole: two boles in the latest event, the tallest one counts; the crown is the largest.
    a += [["u", "2024-06-01", "vst_T_2024", "P", "31_400", "BOLES", "A", "multi-bole tree", "Live", 8.0, 6.0, "Full sun"],
          ["u", "2024-06-01", "vst_T_2024", "P", "31_400", "BOLES", "B", "multi-bole tree", "Live", 12.0, 2.0, "Full sun"]]
    m.append(["u", "P.basePlot.vst", "2023-05-01", "vst_T_2023", "P", "41", 2.0, 270.0, "BOLES", "QUAL", "QUAL sp."])
    mp, ip, pp = tmp_path / "map.csv", tmp_path / "ind.csv", tmp_path / "points.csv"
    pd.DataFrame(m, columns=MAP_COLS).to_csv(mp, index=False)
    pd.DataFrame(a, columns=IND_COLS).to_csv(ip, index=False)
    pd.DataFrame({"plotID": ["P", "P"], "pointID": ["41", "33"], "easting": [500200.0, 500210.0],
                  "northing": [4100300.0, 4100290.0], "utmZone": ["11N", "11N"],
                  "appMods": ["vst|cdw", "vst"]}).to_csv(pp, index=False)
    return mp, ip, pp


FILTERS = {"growth_forms": ["single bole tree", "multi-bole tree", "small tree"], "min_height_m": 3,
           "canopy_positions": ["Full sun", "Partially shaded", "Open grown"], "years": None,
           "crown": {"radius": "measured", "fixed_radius_m": 1.5, "shrink": 0.5},
           "min_individuals": 3, "rare_taxa": "other"}


def test_table_filters_give_each_reason(tmp_path, site_002):
    spec, h5s = site_002
    mp, ip, pp = _tables(tmp_path, h5s[0].parent)
    st = stage.species_stems(str(mp), str(ip), pp, h5s, stems_csv=tmp_path / "s.csv", stems_gpkg=tmp_path / "s.gpkg",
                             species=FILTERS, aop_year=2024).set_index("individualID")
    reasons = st["reason"].to_dict()
    assert reasons["DEAD"] == "not live (Standing dead)"
    assert reasons["LATER_DEAD"] == "not live (Standing dead)"
    assert reasons["SHRUB"] == "growth form single shrub"
    assert reasons["SHORT"] == "too short"
    assert reasons["SHADE"] == "not canopy (Full shade)"
    assert reasons["NOPOINT"] == "no pointID/distance/azimuth"
    assert reasons["BADPOINT"] == "unknown point"
    assert reasons["FAR"] == "outside the tiles"
    used = st[st["used"]]
    assert set(used.index) == {"OK0", "OK1", "OK2", "QU0", "QU1", "QU2", "RARE", "DAMAGED", "REID", "BOLES"}
    assert used.loc["RARE", "label"] == "OTHER"  # one CACA18 < min_individuals 3
    assert used.loc["REID", "taxonID"] == "ACRU"  # the latest mapping record
    assert used.loc["BOLES", "height"] == 12.0 and used.loc["BOLES", "crown_radius_m"] == pytest.approx(1.5)
    assert used.loc["DAMAGED", "radius_source"].startswith("fixed")  # no crown diameter
    assert used.loc["DAMAGED", "crown_radius_m"] == 1.5
    # Located by hand: point 41 + 5 m at 90 degrees; + 3 m north (REID).
    assert used.loc["OK1", ["easting", "northing"]].tolist() == pytest.approx([500205.0, 4100300.0])
    assert used.loc["REID", ["easting", "northing"]].tolist() == pytest.approx([500200.0, 4100303.0])
    assert used.loc["OK0", "crown_radius_m"] == pytest.approx(1.0)  # 4 m / 2 x 0.5
    # Every individual of the tables is a row of stems.csv and of the GeoPackage.
    assert len(pd.read_csv(tmp_path / "s.csv")) == len(st) == 18


def test_rare_taxa_dropped_with_reason(tmp_path, site_002):
    mp, ip, pp = _tables(tmp_path, site_002[1][0].parent)
    st = stage.species_stems(str(mp), str(ip), pp, site_002[1], stems_csv=tmp_path / "s.csv",
                             stems_gpkg=tmp_path / "s.gpkg", species={**FILTERS, "rare_taxa": "drop"},
                             aop_year=2024).set_index("individualID")
    assert st.loc["RARE", "reason"] == "rare taxon" and not st.loc["RARE", "used"]


def test_missing_column_names_file_and_column(tmp_path, site_002):
    mp, ip, pp = _tables(tmp_path, site_002[1][0].parent)
    pd.read_csv(ip).drop(columns=["plantStatus"]).to_csv(ip, index=False)
    with pytest.raises(InputDataError, match=r"ind\.csv: column\(s\) \['plantStatus'\] missing"):
        stage.species_stems(str(mp), str(ip), pp, site_002[1], stems_csv=tmp_path / "s.csv",
                            stems_gpkg=tmp_path / "s.gpkg", species=FILTERS, aop_year=2024)


def test_points_without_a_plot_is_an_error(tmp_path, site_002):
    mp, ip, pp = _tables(tmp_path, site_002[1][0].parent)
    pts = pd.read_csv(pp)
    pts["plotID"] = "OTHER_PLOT"
    pts.to_csv(pp, index=False)
    with pytest.raises(InputDataError, match=r"no point of plot\(s\) \['P'\].*species\.files\.points"):
        stage.species_stems(str(mp), str(ip), pp, site_002[1], stems_csv=tmp_path / "s.csv",
                            stems_gpkg=tmp_path / "s.gpkg", species=FILTERS, aop_year=2024)


def test_fewer_than_two_taxa_is_an_error(tmp_path, site_002):
    mp, ip, pp = _tables(tmp_path, site_002[1][0].parent)
    with pytest.raises(InputDataError, match="fewer than two taxa.*species.min_individuals"):
        stage.species_stems(str(mp), str(ip), pp, site_002[1], stems_csv=tmp_path / "s.csv",
                            stems_gpkg=tmp_path / "s.gpkg", species={**FILTERS, "min_individuals": 20,
                                                                      "rare_taxa": "drop"}, aop_year=2024)


# ----------------------------------------------------------------------------- crowns


def test_crown_labels_by_hand():
    t = Affine(1, 0, 0, 0, -1, 5)  # 5 x 5 pixels of 1 m, upper-left at (0, 5)
    lab = crown_labels(np.array([2.5]), np.array([2.5]), np.array([1.0]), np.array([10.0]), t, (5, 5))
    expect = np.full((5, 5), -1)
    expect[2, 1:4] = 0
    expect[1:4, 2] = 0  # pixel centres within 1 m of the stem: a plus
    np.testing.assert_array_equal(lab, expect)
    # A crown narrower than a pixel keeps the stem's pixel.
    lab = crown_labels(np.array([0.2]), np.array([4.9]), np.array([0.1]), np.array([3.0]), t, (5, 5))
    assert (lab == 0).sum() == 1 and lab[0, 0] == 0
    # Two crowns sharing pixels: the taller wins, or shared pixels are dropped.
    x, y, r = np.array([1.5, 2.5]), np.array([2.5, 2.5]), np.array([1.0, 1.0])
    taller = crown_labels(x, y, r, np.array([5.0, 9.0]), t, (5, 5), overlap="taller")
    assert taller[2, 1] == 1 and taller[2, 2] == 1 and taller[2, 0] == 0
    drop = crown_labels(x, y, r, np.array([5.0, 9.0]), t, (5, 5), overlap="drop")
    assert drop[2, 1] == -1 and drop[2, 2] == -1 and drop[2, 0] == 0 and drop[2, 3] == 1


# ----------------------------------------------------------------------------- model


def test_grouped_folds_never_split_a_plot():
    rng = np.random.default_rng(0)
    groups = np.repeat([f"p{i}" for i in range(12)], rng.integers(5, 40, 12))
    y = np.array([["a", "b", "c"][hash(g) % 3] for g in groups])
    y[rng.random(y.size) < 0.3] = "b"
    folds = plot_folds(y, groups, 5, seed=1)
    tested = []
    for train, test in folds:
        assert not set(groups[train]) & set(groups[test])
        tested += list(set(groups[test]))
    assert sorted(tested) == sorted(set(groups))  # each plot in exactly one test fold


@pytest.mark.parametrize("name", sorted(CLASSIFIERS))
def test_every_classifier_separates_two_spectra(name):
    rng = np.random.default_rng(1)
    a, b = np.linspace(0.1, 0.5, 40), np.linspace(0.5, 0.1, 40)
    X = np.vstack([a + rng.normal(0, 0.01, (60, 40)), b + rng.normal(0, 0.01, (60, 40))]).astype(np.float32)
    y = np.array(["A"] * 60 + ["B"] * 60)
    model = fit(ModelSpec(classifier=name, pca=5), X, y)
    test = np.vstack([a, b]).astype(np.float32)
    assert list(model.predict(test)) == ["A", "B"]


# ----------------------------------------------------------------------------- demo accuracy

DEMO = dict(site="DEMO", shape=(2, 2), pixels=150, pixel_size=1.0, bands=100, seed=5, trees=True)
SPECIES = {**FILTERS, "min_individuals": 10, "crown": {"radius": "measured", "fixed_radius_m": 1.5, "shrink": 0.6},
           "classifier": "random_forest", "features": {"bands": "cleaned", "pca": 30}, "cv": {"folds": 5, "seed": 0}}
#: Thresholds of the demo's plot-grouped macro-F1 (pixel level) and map accuracy over truth crown
#: pixels (its taxa differ by 5-15 % at a few wavelengths; crowns vary by +-12 % in brightness).
MACRO_F1_MIN, MAP_ACCURACY_MIN = 0.7, 0.7


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory):
    out = tmp_path_factory.mktemp("species_demo")
    spec = SiteSpec(**DEMO)
    h5s = generate_site(spec, out)
    files = write_field_tables(spec, out / "vst")
    for t in spec.tile_ids():
        write_truth(spec, t, out / "truth" / f"species_{t}.tif")
    return spec, h5s, files, out


def _run_demo(demo_site, work: Path, shuffle: bool):
    spec, h5s, files, out = demo_site
    stems = stage.species_stems(str(files["mapping"]), str(files["individual"]), files["points"], h5s,
                                stems_csv=work / "stems.csv", stems_gpkg=work / "stems.gpkg", species=SPECIES,
                                aop_year=2024)
    if shuffle:  # permute the taxa among the used individuals (the classifier's control)
        used = stems["used"].to_numpy()
        stems.loc[used, "label"] = np.random.default_rng(3).permutation(stems.loc[used, "label"].to_numpy())
        stems.to_csv(work / "stems.csv", index=False)
    training = [stage.species_training(h, work / "stems.csv", work / f"{t}.npz", tile_id=t)
                for t, h in zip(spec.tile_ids(), h5s)]
    metrics = stage.species_model(training, work / "stems.csv", model_path=work / "model.joblib",
                                  metrics_csv=work / "cv.csv", confusion_csv=work / "cm.csv",
                                  classes_csv=work / "classes.csv", species=SPECIES, threads=2)
    classes = pd.read_csv(work / "classes.csv")
    taxa = pd.read_csv(files["taxa"]).set_index("code")["taxonID"]
    ok = n = 0
    for t, h in zip(spec.tile_ids(), h5s):
        stage.species_predict(h, work / "model.joblib", species_path=work / f"{t}_species.tif",
                              probability_path=work / f"{t}_p.tif", tile_id=t, threads=2)
        with rasterio.open(work / f"{t}_species.tif") as src:
            pred = src.read(1)
        with rasterio.open(out / "truth" / f"species_{t}.tif") as src:
            truth = src.read(1)
        sel = (truth > 0) & (pred != 255)
        true_label = taxa.reindex(truth[sel]).to_numpy()
        true_label[~np.isin(true_label, classes["taxonID"])] = "OTHER"
        pred_label = classes.set_index("code")["taxonID"].reindex(pred[sel]).to_numpy()
        ok += int((true_label == pred_label).sum())
        n += int(sel.sum())
    m = metrics.set_index(["split", "level", "class"])
    return m, ok / n


def test_demo_species_map_is_accurate_and_chance_with_shuffled_labels(demo_site, tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "shuffled").mkdir()
    m, acc = _run_demo(demo_site, tmp_path / "real", shuffle=False)
    f1 = m.loc[("plot", "pixel", "macro avg"), "f1"]
    assert f1 > MACRO_F1_MIN and acc > MAP_ACCURACY_MIN, (f1, acc)
    # Both splits, both levels, per taxon + averages + accuracy.
    assert set(m.index.get_level_values("split")) == {"plot", "random"}
    assert m.loc[("plot", "crown", "accuracy"), "support_individuals"] > 100
    ms, acc_s = _run_demo(demo_site, tmp_path / "shuffled", shuffle=True)
    f1_s = ms.loc[("plot", "pixel", "macro avg"), "f1"]
    assert f1_s < 0.4 and acc_s < 0.4, (f1_s, acc_s)
    # The leakage a random pixel split hides: it still scores above the plot split.
    assert ms.loc[("random", "pixel", "macro avg"), "f1"] > f1_s + 0.1


# ----------------------------------------------------------------------------- source neon


def test_source_neon_against_the_fake_api(demo_site, tmp_path):
    spec, h5s, files, _ = demo_site
    with FakeNeonServer(site="DEMO", product="DP3.30006.002") as srv:
        month = "2024-06"
        for table in ("mapping", "individual"):
            name = ("vst_mappingandtagging.basic" if table == "mapping" else f"vst_apparentindividual.{month}.basic")
            srv.add_file(month, f"NEON.D00.DEMO.{VST_PRODUCT}.{name}.20250101T000000Z.csv",
                         Path(files[table]).read_bytes(), product=VST_PRODUCT)
        srv.add_file(month, f"NEON.D00.DEMO.{VST_PRODUCT}.vst_apparentindividual.{month}.expanded.x.csv", b"a,b\n",
                     product=VST_PRODUCT)  # the expanded package is not read
        points = pd.read_csv(files["points"], dtype=str)
        for plot, g in points.groupby("plotID"):
            named = f"{plot}.basePlot.vst"
            srv.add_location(named, {"locationChildren": [f"{named}.{p}" for p in g["pointID"]]})
            for r in g.itertuples():
                srv.add_location(f"{named}.{r.pointID}", {
                    "locationUtmEasting": float(r.easting), "locationUtmNorthing": float(r.northing),
                    "locationUtmZone": int(r.utmZone[:-1]), "locationUtmHemisphere": r.utmZone[-1],
                    "locationDecimalLatitude": float(r.latitude), "locationDecimalLongitude": float(r.longitude),
                    "locationProperties": [{"locationPropertyName": "Value for Coordinate uncertainty",
                                            "locationPropertyValue": 0.3}]})
        out = {k: tmp_path / f"{k}.csv" for k in ("mapping", "individual", "points")}
        with NeonClient(api_url=srv.url, sleep=lambda s: None) as client:
            fetch_species_tables("DEMO", mapping_path=out["mapping"], individual_path=out["individual"],
                                 points_path=out["points"], years=None, aop_year=2024, api_url=srv.url,
                                 cache_dir=tmp_path / "cache", client=client)
            n_locations = sum("/locations/" in r.path for r in srv.requests)
            # Cached: a second fetch asks for the listings only.
            srv.reset_log()
            fetch_species_tables("DEMO", mapping_path=out["mapping"], individual_path=out["individual"],
                                 points_path=out["points"], years=None, aop_year=2024, api_url=srv.url,
                                 cache_dir=tmp_path / "cache", client=client)
            assert not any("/locations/" in r.path for r in srv.requests) and srv.count(".csv") == 0
    assert n_locations > 60  # 20 plots and the points their stems are measured from
    kw = dict(h5_files=h5s, species=SPECIES, aop_year=2024)
    api = stage.species_stems(str(out["mapping"]), str(out["individual"]), out["points"], stems_csv=tmp_path / "a.csv",
                              stems_gpkg=tmp_path / "a.gpkg", **kw).set_index("individualID")
    ref = stage.species_stems(str(files["mapping"]), str(files["individual"]), files["points"],
                              stems_csv=tmp_path / "b.csv", stems_gpkg=tmp_path / "b.gpkg", **kw).set_index("individualID")
    assert api["used"].sum() == ref["used"].sum() > 100
    pd.testing.assert_series_equal(api["reason"], ref["reason"])
    np.testing.assert_allclose(api.loc[api["used"], ["easting", "northing"]].to_numpy(float),
                               ref.loc[ref["used"], ["easting", "northing"]].to_numpy(float), atol=1e-6)


def test_years_and_unmatched_individuals():
    from aopflow.species.tables import StemFilter, join_stems, latest_measurements

    ind = pd.DataFrame({"individualID": ["a", "a", "b"], "date": ["2020-06-01", "2024-06-01", "2023-01-01"],
                        "eventID": [None, None, "vst_X_2023"], "plotID": ["P"] * 3, "plantStatus": ["Live"] * 3,
                        "growthForm": ["single bole tree"] * 3, "height": ["5", "6", "7"],
                        "maxCrownDiameter": [None, "3", None], "canopyPosition": [None] * 3, "tempStemID": [None] * 3})
    # AOP year 2023: a's 2024 measurement is after the flight, its 2020 one counts.
    latest = latest_measurements(ind, None, 2023)
    assert latest.loc["a", "height"] == 5 and latest.loc["b", "height"] == 7
    assert list(latest_measurements(ind, [2024], 2023).index) == ["a"]
    mp = pd.DataFrame({"individualID": ["a", "c"], "date": ["2019-01-01"] * 2, "plotID": ["P"] * 2,
                       "pointID": ["41", None], "stemDistance": ["1", None], "stemAzimuth": ["0", None],
                       "taxonID": ["X", "Y"], "scientificName": ["x", "y"]})
    reasons = join_stems(mp, ind, StemFilter(aop_year=2023)).set_index("individualID")["reason"]
    assert reasons.isna()["a"]
    assert reasons["b"] == "no mapping record" and reasons["c"] == "no measurement in the years used"


def test_no_stem_inside_the_tiles_is_an_error(tmp_path, site_002):
    mp, ip, pp = _tables(tmp_path, site_002[1][0].parent)
    pts = pd.read_csv(pp)
    pts["easting"] += 100000.0  # the plot is far east of the site
    pts.to_csv(pp, index=False)
    with pytest.raises(InputDataError, match="no usable stem inside the tiles.*'outside the tiles'"):
        stage.species_stems(str(mp), str(ip), pp, site_002[1], stems_csv=tmp_path / "s.csv",
                            stems_gpkg=tmp_path / "s.gpkg", species=FILTERS, aop_year=2024)


def test_fewer_plots_than_folds_names_the_key():
    from aopflow.errors import ConfigError

    y = np.array(["a", "b"] * 30)
    with pytest.raises(ConfigError, match=r"only 3 plots.*species\.cv\.folds = 5"):
        plot_folds(y, np.repeat(["p1", "p2", "p3"], 20), 5, seed=0)


def test_predict_block_codes_probabilities_and_no_data():
    from aopflow.species.predict import column_codes, predict_block

    class Fixed:  # predict_proba by the first band's value: 0.1 -> column 0 at 0.9, else column 1 at 0.55
        classes_ = np.array(["B", "A"])  # scikit-learn's column order; codes follow classes.csv (A=1, B=2)

        def predict_proba(self, x):
            first = np.isclose(x[:, 0], 0.1)
            return np.where(first[:, None], [0.9, 0.1], [0.45, 0.55])

    raw = np.array([[[1000, 5], [2000, 5]], [[-9999, 5], [3000, 5]]], dtype=np.int16)  # (2, 2, 2 bands)
    cols = column_codes(Fixed.classes_, ["A", "B"])
    assert list(cols) == [2, 1]
    codes, prob = predict_block(Fixed(), raw, -9999.0, 10000.0, None, 255, cols)
    np.testing.assert_array_equal(codes, [[2, 1], [255, 1]])
    np.testing.assert_allclose(prob, [[0.9, 0.55], [np.nan, 0.55]])
    codes, _ = predict_block(Fixed(), raw, -9999.0, 10000.0, 0.6, 255, cols)
    np.testing.assert_array_equal(codes, [[2, 0], [255, 0]])  # below min_probability: unclassified
