"""Tree crowns of synthetic taxa for the demo site, and NEON-format field tables of them.

With ``species.source: demo`` the AOP demo generator (:func:`aopflow.demo.aop.write_tile`) plants
the crowns of :func:`demo_trees` into its scene, and :func:`write_field_tables` writes what
NEON's field crews would have recorded about the trees in the plots: ``vst_mappingandtagging``
and ``vst_apparentindividual`` with NEON's column names (DP1.10098.001, RELEASE-2025 layout) and
a plot points file with the columns of All_NEON_TOS_Plot_Points. Truth (the taxon seen at every
pixel) is written by :func:`write_truth`.

The scene's geometry is NEON's in *pixel* units: at ``demo.pixel_size`` 1 m, plots are 20 m x
20 m base plots with points on a 10 m grid and crowns 2-4.5 m in radius, as in the field; at
10 m pixels everything is ten times larger, so that crowns still cover several pixels.

Quirks of real tables (``shared/SPECIES.md`` section 3) are planted on purpose: dead trees,
shrubs, small trees without pointID, individuals measured in two years, a multi-bole tree,
a re-identified individual (two mapping records), pointIDs written as ``41.0``, a status
``Live,  other damage`` (two spaces), missing crown diameters, shaded understorey trees, a taxon
with three individuals, plots outside the tiles and one plot whose points are published in the
next UTM zone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from affine import Affine
from pyproj import Transformer

from aopflow.io import atomic_path
from aopflow.neon.naming import TILE_SIZE_M, parse_tile_id
from aopflow.species.crowns import crown_labels

log = logging.getLogger(__name__)

#: Synthetic taxa: (taxonID, scientificName, {wavelength nm: relative change of the vegetation
#: spectrum}). Differences of 5-15 % at chosen wavelengths: distinct, but overlapping once
#: crowns vary in brightness (+-12 %) and shape (+-3 %). The last taxon is the rare one.
TAXA: tuple[tuple[str, str, dict[float, float]], ...] = (
    ("ACRU", "Acer rubrum L.", {550: 0.12, 700: 0.15, 900: -0.05, 1650: 0.06}),
    ("QUAL", "Quercus alba L.", {550: -0.06, 900: 0.08, 1200: 0.06, 2200: -0.10}),
    ("LIST2", "Liquidambar styraciflua L.", {680: 0.18, 900: -0.08, 1650: -0.10}),
    ("PITA", "Pinus taeda L.", {550: -0.12, 900: -0.15, 1650: -0.05, 2200: 0.12}),
    ("FAGR", "Fagus grandifolia Ehrh.", {500: 0.08, 900: 0.12, 1650: 0.10, 2200: 0.05}),
    ("CACA18", "Carpinus caroliniana Walter", {550: 0.10, 1200: -0.10, 2200: -0.06}),
)
RARE_TAXON = "CACA18"
#: Width (nm, standard deviation) of each spectral change.
BUMP_NM = 60.0
#: Offset (m at 1 m pixels) of point p from point 41: a 9-column grid of 10 m cells.
BASE_PLOT_POINTS = (31, 33, 41, 49, 51)


def point_offset(point_id: int) -> tuple[float, float]:
    """(east, north) offset in metres of NEON plot point ``point_id`` from point 41."""
    return ((point_id % 9) - 5) * 10.0, (point_id // 9 - 4) * 10.0


def taxon_spectra(wavelengths: np.ndarray, vegetation: np.ndarray) -> np.ndarray:
    """Reflectance ``(n_taxa, bands)`` float64 of :data:`TAXA` from the vegetation spectrum."""
    out = []
    for _, _, bumps in TAXA:
        f = np.ones_like(wavelengths, dtype=float)
        for centre, amp in bumps.items():
            f += amp * np.exp(-0.5 * ((wavelengths - centre) / BUMP_NM) ** 2)
        out.append(vegetation * f)
    return np.asarray(out)


@dataclass(frozen=True)
class DemoForest:
    """Every planted tree of the site and the plots: ``trees`` has one row per tree (x, y in
    the site CRS, radius_m, height_m, taxon index, brightness, shape seed, plotID or None,
    role) and ``plots`` one row per plot (plotID, x, y of point 41, inside the tiles)."""

    trees: pd.DataFrame
    plots: pd.DataFrame
    scale: float


def _data_extents(spec) -> list[tuple[float, float, float, float]]:
    out = []
    for t in spec.tile_ids():
        e, n = parse_tile_id(t)
        size = spec.pixels * spec.pixel_size
        out.append((e, n, e + size, n + size))
    return out


def demo_trees(spec, n_plots: int = 20, n_outside: int = 3) -> DemoForest:
    """The planted trees of a demo site (deterministic in ``spec.seed``)."""
    rng = np.random.default_rng([spec.seed, 2101])
    s = float(spec.pixel_size)  # metres per pixel: the scene's scale (NEON's sizes at 1 m)
    e0, n0 = spec.origin
    width = TILE_SIZE_M * spec.shape[0]
    extents = _data_extents(spec)
    margin = 22.0 * s
    plots = []
    tries = 0
    while len(plots) < n_plots - n_outside and tries < 20000:
        tries += 1
        ex = extents[rng.integers(len(extents))]
        if ex[2] - ex[0] < 2 * margin + 1:
            break
        x, y = rng.uniform(ex[0] + margin, ex[2] - margin), rng.uniform(ex[1] + margin, ex[3] - margin)
        if x > e0 + 0.75 * width:  # keep clear of the flight-edge no-data strip
            continue
        if all(np.hypot(x - p[0], y - p[1]) > 2.2 * margin for p in plots):
            plots.append((x, y))
    for k in range(n_outside):  # west of the site: no tile covers them
        plots.append((e0 - 40.0 * s - 60.0 * s * k, n0 + 30.0 * s + 40.0 * s * k))
    plot_ids = [f"{spec.site}_{i + 1:03d}" for i in range(len(plots))]
    inside = [i < len(plots) - n_outside for i in range(len(plots))]

    rows = []
    n_main = len(TAXA) - 1
    for i, (pid, (px, py), ins) in enumerate(zip(plot_ids, plots, inside)):
        # Each plot has its own mix of two to three taxa (plots differ, as in the field); the
        # mixes rotate so that every common taxon is found in several plots.
        mix = np.array([i % n_main, (i + 2) % n_main] + ([(i + 1) % n_main] if rng.random() < 0.5 else []))
        w = rng.dirichlet(np.ones(mix.size) * 2.0)
        placed: list[tuple[float, float, float]] = []
        for _ in range(60):
            if len(placed) >= 9:
                break
            x, y = px + rng.uniform(-9.5, 9.5) * s, py + rng.uniform(-9.5, 9.5) * s
            r = rng.uniform(2.0, 4.5) * s
            if all(np.hypot(x - a, y - b) > 0.9 * (r + rr) for a, b, rr in placed):
                placed.append((x, y, r))
                rows.append(dict(x=x, y=y, radius_m=r, height_m=rng.uniform(12, 30),
                                 taxon=int(rng.choice(mix, p=w)), plotID=pid, role="canopy"))
        # A shaded understorey tree under a canopy crown (hidden from above: taller wins).
        a, b, rr = placed[0]
        rows.append(dict(x=a + 0.3 * rr, y=b, radius_m=1.5 * s, height_m=6.0,
                         taxon=int(rng.integers(n_main)), plotID=pid, role="shaded"))
    trees = pd.DataFrame(rows)
    # The rare taxon: three canopy trees in three different plots inside the tiles.
    canopy_in = trees.index[(trees["role"] == "canopy") & trees["plotID"].isin(
        [p for p, ins in zip(plot_ids, inside) if ins])]
    picks = trees.loc[canopy_in].groupby("plotID").head(1).index[:3]
    trees.loc[picks, "taxon"] = len(TAXA) - 1
    # Off-plot forest: crowns over ~15 % of the data area, never surveyed.
    off = []
    for ex in extents:
        area = (ex[2] - ex[0]) * (ex[3] - ex[1])
        n_off = int(0.15 * area / (np.pi * (3.2 * s) ** 2))
        xs = rng.uniform(ex[0], ex[2], n_off)
        ys = rng.uniform(ex[1], ex[3], n_off)
        for x, y in zip(xs, ys):
            if any(abs(x - px) < 15 * s and abs(y - py) < 15 * s for px, py in plots):
                continue
            off.append(dict(x=x, y=y, radius_m=rng.uniform(2.0, 4.5) * s, height_m=rng.uniform(12, 30),
                            taxon=int(rng.integers(n_main)), plotID=None, role="forest"))
    trees = pd.concat([trees, pd.DataFrame(off)], ignore_index=True)
    trees["brightness"] = rng.normal(1.0, 0.12, len(trees)).clip(0.7, 1.3)
    trees["shape_seed"] = rng.integers(0, 2**31, len(trees))
    plots_df = pd.DataFrame({"plotID": plot_ids, "x": [p[0] for p in plots], "y": [p[1] for p in plots],
                             "inside": inside})
    return DemoForest(trees=trees, plots=plots_df, scale=s)


@dataclass
class CrownPaint:
    """What :func:`aopflow.demo.aop.write_tile` needs to plant the crowns of one tile."""

    labels: np.ndarray  # (rows, cols) int32 tree index, -1 = no crown
    spectra: np.ndarray  # (n_trees_in_tile, bands) float32 crown spectra
    index: dict  # tree index -> row of spectra
    edge: np.ndarray  # (rows, cols) float32 weight of the crown in the pixel (1 inside, 0.7 at its edge)
    jitter: np.ndarray  # (rows, cols) float32 per-pixel brightness (sunlit / shaded sides)
    vegetation: int | None  # index of "vegetation" among the materials (truth abundance)

    def paint(self, refl: np.ndarray, r0: int, r1: int) -> None:
        """Replace the scene in crown pixels of rows ``r0:r1`` (``refl`` (r1-r0, cols, bands))."""
        lab = self.labels[r0:r1]
        r, c = np.nonzero(lab >= 0)
        if r.size == 0:
            return
        rows = np.array([self.index[k] for k in lab[r, c]])
        w = self.edge[r0:r1][r, c][:, None]
        crown = self.spectra[rows] * self.jitter[r0:r1][r, c][:, None]
        refl[r, c] = w * crown + (1 - w) * refl[r, c]

    def truth_abundance(self, abund: np.ndarray) -> np.ndarray:
        """Truth abundances with crown pixels counted as the vegetation material."""
        if self.vegetation is None:
            return abund
        out = abund.copy()
        onehot = np.zeros(abund.shape[-1], dtype=abund.dtype)
        onehot[self.vegetation] = 1
        out[self.labels >= 0] = onehot
        return out


def tile_labels(forest: DemoForest, transform: Affine, shape: tuple[int, int]) -> np.ndarray:
    """Tree index seen at every pixel (taller crowns hide shorter ones), -1 = no crown."""
    t = forest.trees
    return crown_labels(t["x"].to_numpy(), t["y"].to_numpy(), t["radius_m"].to_numpy(),
                        t["height_m"].to_numpy(), transform, shape, overlap="taller")


def crown_paint(spec, tile_id: str, wavelengths: np.ndarray, vegetation: np.ndarray) -> CrownPaint:
    """The crowns of one tile, ready to be painted into its reflectance."""
    forest = demo_trees(spec)
    e, n = parse_tile_id(tile_id)
    px, res = spec.pixels, spec.pixel_size
    transform = Affine(res, 0, e, 0, -res, n + px * res)
    labels = tile_labels(forest, transform, (px, px))
    base = taxon_spectra(wavelengths, vegetation)
    present = np.unique(labels[labels >= 0])
    spectra = np.empty((present.size, wavelengths.size), dtype=np.float32)
    for j, k in enumerate(present):
        tree = forest.trees.loc[k]
        g = np.random.default_rng(int(tree["shape_seed"]))
        shape = np.ones_like(wavelengths)
        for centre in (550, 700, 900, 1200, 1650, 2200):
            shape += g.normal(0, 0.03) * np.exp(-0.5 * ((wavelengths - centre) / BUMP_NM) ** 2)
        spectra[j] = base[int(tree["taxon"])] * shape * tree["brightness"]
    cols_x = e + (np.arange(px) + 0.5) * res
    rows_y = n + px * res - (np.arange(px) + 0.5) * res
    X, Y = np.meshgrid(cols_x, rows_y)
    edge = np.ones((px, px), dtype=np.float32)
    if present.size:
        t = forest.trees
        lab = np.where(labels >= 0, labels, 0)
        d = np.hypot(X - t["x"].to_numpy()[lab], Y - t["y"].to_numpy()[lab]) / t["radius_m"].to_numpy()[lab]
        edge = np.where((labels >= 0) & (d > 0.75), 0.7, 1.0).astype(np.float32)
    jitter = np.random.default_rng([spec.seed, e, n, 2102]).normal(1.0, 0.05, (px, px)).astype(np.float32)
    veg = spec.materials.index("vegetation") if "vegetation" in spec.materials else None
    return CrownPaint(labels, spectra, {int(k): j for j, k in enumerate(present)}, edge, jitter, veg)


# ----------------------------------------------------------------------------- field tables
MAPPING_HEADER = ["uid", "namedLocation", "date", "eventID", "domainID", "siteID", "plotID", "pointID",
                  "stemDistance", "stemAzimuth", "recordType", "individualID", "supportingStemIndividualID",
                  "previouslyTaggedAs", "otherTagID", "otherTagOrg", "samplingProtocolVersion",
                  "identificationHistoryID", "taxonID", "scientificName", "genus", "family", "taxonRank",
                  "identificationReferences", "morphospeciesID", "morphospeciesIDRemarks",
                  "identificationQualifier", "remarks", "measuredBy", "recordedBy", "dataQF",
                  "publicationDate", "release"]
INDIVIDUAL_HEADER = ["uid", "namedLocation", "date", "eventID", "domainID", "siteID", "plotID", "subplotID",
                     "individualID", "tempStemID", "tagStatus", "growthForm", "plantStatus", "stemDiameter",
                     "measurementHeight", "height", "baseCrownHeight", "breakHeight", "breakDiameter",
                     "maxCrownDiameter", "ninetyCrownDiameter", "canopyPosition", "shape",
                     "basalStemDiameter", "remarks", "recordedBy", "measuredBy", "dataEntryRecordID",
                     "dataQF", "publicationDate", "release"]
POINTS_HEADER = ["plotID", "pointID", "siteID", "plotType", "subtype", "appMods", "latitude", "longitude",
                 "datum", "utmZone", "easting", "northing", "horzUncert", "crdSource", "elevation",
                 "vertUncert", "nlcdClass"]


def _genus(name: str) -> str:
    return name.split()[0]


def write_field_tables(spec, out_dir: str | Path, n_plots: int = 20) -> dict[str, Path]:
    """Write ``vst_mappingandtagging.csv``, ``vst_apparentindividual.csv``,
    ``All_NEON_TOS_Plot_Points.csv`` and ``taxa.csv`` (the synthetic taxa) into ``out_dir``."""
    forest = demo_trees(spec, n_plots=n_plots)
    rng = np.random.default_rng([spec.seed, 2103])
    s = forest.scale
    site, dom, year = spec.site, spec.domain, spec.year
    zone = spec.epsg % 100
    to_ll = Transformer.from_crs(spec.epsg, 4326, always_xy=True)
    next_zone = Transformer.from_crs(spec.epsg, spec.epsg + 1, always_xy=True)
    points, mapping, indiv = [], [], []
    surveyed: dict[tuple[str, int], tuple[float, float]] = {}
    reproj_plot = forest.plots.loc[forest.plots["inside"], "plotID"].iloc[1]
    for _, p in forest.plots.iterrows():
        for pid in BASE_PLOT_POINTS:
            dx, dy = point_offset(pid)
            # Surveyed points sit about a metre off the ideal grid; the file's coordinate has
            # the GPS error on top (crowns are measured from the marker on the ground).
            tx, ty = p["x"] + dx * s + rng.normal(0, 0.8) * s, p["y"] + dy * s + rng.normal(0, 0.8) * s
            surveyed[(p["plotID"], pid)] = (tx, ty)
            fx, fy = tx + rng.normal(0, 0.2) * s, ty + rng.normal(0, 0.2) * s
            lon, lat = to_ll.transform(fx, fy)
            zone_txt, ex, ny = f"{zone}N", fx, fy
            if p["plotID"] == reproj_plot:  # published in the next UTM zone
                ex, ny = next_zone.transform(fx, fy)
                zone_txt = f"{zone + 1}N"
            points.append(dict(plotID=p["plotID"], pointID=str(pid), siteID=site, plotType="distributed",
                               subtype="basePlot", appMods="bbc|cdw|cfc|dhp|div|vst", latitude=round(lat, 6),
                               longitude=round(lon, 6), datum="WGS84", utmZone=zone_txt, easting=round(ex, 2),
                               northing=round(ny, 2), horzUncert=0.3, crdSource="GeoXH 6000", elevation=100.0,
                               vertUncert=0.5, nlcdClass="deciduousForest"))
    trees = forest.trees
    surveyed_trees = trees[trees["plotID"].notna()]
    counter = 0

    def new_id() -> str:
        nonlocal counter
        counter += 1
        return f"NEON.PLA.{dom}.{site}.{counter:05d}"

    def map_row(ind, plot, date, point, dist, az, taxon_idx, **extra):
        code, name, _ = TAXA[taxon_idx]
        row = dict.fromkeys(MAPPING_HEADER)
        row.update(uid=f"m{len(mapping):06d}", namedLocation=f"{plot}.basePlot.vst", date=date,
                   eventID=f"vst_{site}_{date[:4]}", domainID=dom, siteID=site, plotID=plot,
                   pointID=point, stemDistance=dist, stemAzimuth=az, recordType="",
                   individualID=ind, taxonID=code, scientificName=name, genus=_genus(name),
                   taxonRank="species", samplingProtocolVersion="NEON.DOC.000987vK",
                   measuredBy="demo", recordedBy="demo", publicationDate="20250101T000000Z",
                   release="RELEASE-2025")
        row.update(extra)
        mapping.append(row)

    def ind_row(ind, plot, date, form, status, height, crown, canopy, bole=None):
        row = dict.fromkeys(INDIVIDUAL_HEADER)
        row.update(uid=f"a{len(indiv):06d}", namedLocation=f"{plot}.basePlot.vst", date=date,
                   eventID=f"vst_{site}_{date[:4]}", domainID=dom, siteID=site, plotID=plot, subplotID="31_400",
                   individualID=ind, tempStemID=bole, tagStatus="ok", growthForm=form, plantStatus=status,
                   stemDiameter=round(float(rng.uniform(10, 60)), 1), measurementHeight=130,
                   height=None if height is None else round(float(height), 1),
                   maxCrownDiameter=None if crown is None else round(float(crown), 1),
                   ninetyCrownDiameter=None if crown is None else round(float(crown) * 0.8, 1),
                   canopyPosition=canopy, recordedBy="demo", measuredBy="demo", publicationDate="20250101T000000Z",
                   release="RELEASE-2025")
        indiv.append(row)

    date_map = f"{year - 2}-05-12"
    date_now = f"{year}-06-20"
    date_old = f"{year - 2}-06-18"
    for k, (idx, t) in enumerate(surveyed_trees.iterrows()):
        ind = new_id()
        plot = t["plotID"]
        # Measured from the nearest of the plot's points (stemAzimuth clockwise from grid north).
        best = min(BASE_PLOT_POINTS, key=lambda q: np.hypot(t["x"] - surveyed[(plot, q)][0], t["y"] - surveyed[(plot, q)][1]))
        px_, py_ = surveyed[(plot, best)]
        dist = float(np.hypot(t["x"] - px_, t["y"] - py_))
        az = float(np.degrees(np.arctan2(t["x"] - px_, t["y"] - py_)) % 360)
        point = f"{best}.0" if k % 17 == 3 else str(best)  # a float-typed column, as read back
        if k % 23 == 5:  # re-identified: an older record with another taxon, then the current one
            map_row(ind, plot, f"{year - 4}-05-02", point, round(dist, 1), round(az, 1), (int(t["taxon"]) + 1) % (len(TAXA) - 1))
        map_row(ind, plot, date_map, point, round(dist, 1), round(az, 1), int(t["taxon"]))
        crown = 2 * t["radius_m"] * rng.normal(1.0, 0.08)
        if k % 7 == 2:
            crown = None  # maxCrownDiameter missing: the fixed-radius fallback
        canopy = "Full shade" if t["role"] == "shaded" else ("Full sun" if k % 3 else "Partially shaded")
        if k % 11 == 6:
            canopy = None  # empty on many live stems
        status = "Live,  other damage" if k % 19 == 4 else "Live"
        if k % 13 == 7:  # a multi-bole tree: two boles in the latest event
            ind_row(ind, plot, date_now, "multi-bole tree", status, t["height_m"], crown, canopy, bole="A")
            ind_row(ind, plot, date_now, "multi-bole tree", status, t["height_m"] - 4, None, canopy, bole="B")
        else:
            ind_row(ind, plot, date_now, "single bole tree", status, t["height_m"], crown, canopy)
        if k % 3 == 0:  # measured in an earlier bout too (smaller then)
            ind_row(ind, plot, date_old, "small tree" if t["height_m"] < 15 else "single bole tree", "Live",
                    t["height_m"] - 2.5, None if crown is None else crown * 0.9, "Partially shaded")
    # Individuals that are never used, each with its reason.
    for _, p in forest.plots.iterrows():
        plot = p["plotID"]
        for kind in ("dead", "shrub", "unmapped"):
            ind = new_id()
            d, az = round(float(rng.uniform(2, 12) * s), 1), round(float(rng.uniform(0, 360)), 1)
            taxon = int(rng.integers(len(TAXA) - 1))
            if kind == "dead":
                map_row(ind, plot, date_map, "41", d, az, taxon)
                ind_row(ind, plot, date_old, "single bole tree", "Live", 14.0, 5.0, "Full sun")
                ind_row(ind, plot, date_now, "single bole tree", "Standing dead", 14.0, None, None)
            elif kind == "shrub":
                map_row(ind, plot, date_map, "33", d, az, taxon)
                ind_row(ind, plot, date_now, "single shrub", "Live", 1.4, 1.2, None)
            else:  # small and not mapped: no pointID, distance or azimuth
                map_row(ind, plot, date_map, None, None, None, taxon)
                ind_row(ind, plot, date_now, "small tree", "Live", 2.1, None, "Full shade")
    out_dir = Path(out_dir)
    files = {
        "mapping": out_dir / "vst_mappingandtagging.csv",
        "individual": out_dir / "vst_apparentindividual.csv",
        "points": out_dir / "All_NEON_TOS_Plot_Points.csv",
        "taxa": out_dir / "taxa.csv",
    }
    tables = {
        "mapping": pd.DataFrame(mapping, columns=MAPPING_HEADER),
        "individual": pd.DataFrame(indiv, columns=INDIVIDUAL_HEADER),
        "points": pd.DataFrame(points, columns=POINTS_HEADER),
        "taxa": pd.DataFrame({"code": range(1, len(TAXA) + 1), "taxonID": [t[0] for t in TAXA],
                              "scientificName": [t[1] for t in TAXA]}),
    }
    for key, path in files.items():
        with atomic_path(path) as tmp:
            tables[key].to_csv(tmp, index=False)
    log.info("demo field tables: %d trees in %d plots (%d outside the tiles), %d mapping and %d measurement rows",
             len(surveyed_trees), len(forest.plots), int((~forest.plots["inside"]).sum()), len(mapping), len(indiv))
    return files


def write_truth(spec, tile_id: str, path: str | Path) -> Path:
    """The taxon seen at every pixel of a tile: uint8 GeoTIFF, code i = ``TAXA[i - 1]``
    (``taxa.csv``), 0 = no crown. Shaded trees under taller crowns are not seen."""
    from aopflow.raster import write_geotiff

    forest = demo_trees(spec)
    e, n = parse_tile_id(tile_id)
    px, res = spec.pixels, spec.pixel_size
    transform = Affine(res, 0, e, 0, -res, n + px * res)
    labels = tile_labels(forest, transform, (px, px))
    codes = np.zeros(labels.shape, dtype=np.uint8)
    seen = labels >= 0
    codes[seen] = forest.trees["taxon"].to_numpy()[labels[seen]] + 1
    return write_geotiff(path, codes, crs=spec.epsg, transform=transform, nodata=None, band_names=["taxon code"],
                         tags={"taxa": ",".join(t[0] for t in TAXA)})
