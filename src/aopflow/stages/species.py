"""Stage `species` (rules/species.smk): tree species maps from NEON's vegetation structure data.

Field tables -> located stems (:func:`species_stems`) -> crown pixels of each tile
(:func:`species_training`) -> a classifier validated on held-out plots (:func:`species_model`)
-> per-tile class and probability maps (:func:`species_predict`) -> figures. The algorithms live
in :mod:`aopflow.species`; the demo's trees and tables in :mod:`aopflow.demo.species`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from aopflow.clean import CleanSpec, tile_good_bands
from aopflow.errors import ConfigError, InputDataError
from aopflow.io import atomic_path, write_png
from aopflow.brdf.apply import attach
from aopflow.neon.reader import NeonTile, check_tile_in_cell, read_meta
from aopflow.products import CLASS_NODATA
from aopflow.raster import write_geotiff
from aopflow.species.crowns import crown_labels, extract_pixels
from aopflow.species.locate import locate_stems, read_points
from aopflow.species.predict import column_codes, predict_block
from aopflow.species.tables import (
    INDIVIDUAL_COLUMNS,
    MAPPING_COLUMNS,
    OPTIONAL_INDIVIDUAL_COLUMNS,
    OTHER,
    STEM_COLUMNS,
    StemFilter,
    apply_rare_taxa,
    expand_paths,
    join_stems,
    read_table,
)

# scikit-learn, joblib, matplotlib and the demo generator are imported by the functions that use
# them: they take seconds to import, and a per-tile training job needs none of them.

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- stems
def species_stems(mapping: str | Sequence[str], individual: str | Sequence[str], points: str | os.PathLike,
                  h5_files: Sequence[str | os.PathLike], *, stems_csv: str | os.PathLike,
                  stems_gpkg: str | os.PathLike, species: Mapping, aop_year: int) -> pd.DataFrame:
    """Read the vst tables, choose and locate the stems -> ``stems.csv`` and ``stems.gpkg``.

    One row per individual of the tables (columns :data:`~aopflow.species.tables.STEM_COLUMNS`;
    easting/northing in the tiles' CRS); ``used`` rows are the training crowns, every other row
    says why not in ``reason``.
    """
    flt = StemFilter.from_config(species, aop_year=aop_year)
    mp = read_table(expand_paths(mapping, "species.files.mapping"), MAPPING_COLUMNS, "vst_mappingandtagging")
    ind = read_table(expand_paths(individual, "species.files.individual"), INDIVIDUAL_COLUMNS,
                     "vst_apparentindividual", optional=OPTIONAL_INDIVIDUAL_COLUMNS)
    pts = read_points(points)
    metas = [read_meta(p) for p in h5_files]
    if not metas:
        raise ConfigError("species: the site has no tiles to locate stems in (check tiles:)")
    epsg = metas[0].epsg
    stems = join_stems(mp, ind, flt)
    cand = stems["reason"].isna()
    plots_needed = set(stems.loc[cand, "plotID"].dropna())
    unknown_plots = sorted(plots_needed - set(pts["plotID"]))
    if unknown_plots:
        raise InputDataError(
            f"{points}: no point of plot(s) {unknown_plots[:10]} ({len(unknown_plots)} plots with mapped "
            "stems); the points file must list every plot's points (plotID, pointID, easting, northing, "
            "utmZone): give the site's All_NEON_TOS_Plot_Points file in species.files.points."
        )
    located = locate_stems(stems, pts, epsg)
    stems["easting"], stems["northing"] = located["easting"], located["northing"]
    no_point = cand & ~located["point_found"]
    stems.loc[no_point, "reason"] = "unknown point"
    inside = np.zeros(len(stems), dtype=bool)
    e, n = stems["easting"].to_numpy(float), stems["northing"].to_numpy(float)
    for m in metas:
        left, bottom, right, top = m.bounds
        inside |= (e >= left) & (e < right) & (n > bottom) & (n <= top)
    stems.loc[stems["reason"].isna() & ~inside, "reason"] = "outside the tiles"
    if not (stems["reason"].isna()).any():
        counts = stems["reason"].value_counts().to_dict()
        raise InputDataError(
            f"no usable stem inside the tiles (reasons: {counts}); check that the tables and points are "
            "the site's, or relax species.growth_forms, species.min_height_m, species.canopy_positions, "
            "species.years."
        )
    stems = apply_rare_taxa(stems, flt)
    stems["used"] = stems["reason"].isna()
    n_taxa = stems.loc[stems["used"], "label"].nunique()
    if n_taxa < 2:
        raise InputDataError(
            f"fewer than two taxa left among {int(stems['used'].sum())} usable stems; lower "
            "species.min_individuals, set species.rare_taxa: other, or relax the stem filters."
        )
    out = stems.reindex(columns=STEM_COLUMNS)
    with atomic_path(stems_csv) as tmp:
        out.to_csv(tmp, index=False)
    _write_stems_gpkg(out, stems_gpkg, epsg)
    log.info("%d individuals, %d used (%d taxa); dropped: %s", len(out), int(out["used"].sum()), n_taxa,
             out.loc[~out["used"], "reason"].value_counts().to_dict())
    return out


def _write_stems_gpkg(stems: pd.DataFrame, path, epsg: int) -> None:
    import geopandas as gpd
    from shapely.geometry import Point

    geom = [Point(x, y) if np.isfinite(x) and np.isfinite(y) else None
            for x, y in zip(stems["easting"].astype(float), stems["northing"].astype(float))]
    gdf = gpd.GeoDataFrame(stems, geometry=geom, crs=f"EPSG:{epsg}")
    with atomic_path(path, suffix=".gpkg") as tmp:
        gdf.to_file(tmp, driver="GPKG", layer="stems")


def read_used_stems(stems_csv: str | os.PathLike) -> pd.DataFrame:
    df = pd.read_csv(stems_csv, dtype={"pointID": str, "individualID": str, "plotID": str, "label": str})
    return df[df["used"].astype(str).str.lower() == "true"].reset_index(drop=True)


# ----------------------------------------------------------------------------- training pixels
def species_training(h5_path: str | os.PathLike, stems_csv: str | os.PathLike, out_path: str | os.PathLike, *,
                     tile_id: str, clean: Mapping | None = None, overlap: str = "taller",
                     threads: int = 1, brdf: str | os.PathLike | Sequence[str | os.PathLike] | None = None) -> Path:
    """Cleaned reflectance of every used crown's pixels in one tile, read once -> ``.npz``
    (BRDF-corrected as read with ``brdf``, the site's coefficients).

    Arrays: ``X`` (n, bands) float32 reflectance of the kept bands, ``bands`` (bands,) their
    0-based indices in the file and ``wavelengths`` (nm), ``row``/``col`` (n,) pixel positions,
    ``individualID``, ``plotID``, ``label`` (n,) text.
    """
    stems = read_used_stems(stems_csv)
    spec = CleanSpec.from_config(clean)
    with NeonTile(h5_path, threads=threads) as tile:
        meta = tile.meta
        check_tile_in_cell(meta, tile_id)
        attach(tile, brdf)
        bands = tile_good_bands(meta, spec)
        labels = crown_labels(stems["easting"].to_numpy(float), stems["northing"].to_numpy(float),
                              stems["crown_radius_m"].to_numpy(float), stems["height"].to_numpy(float),
                              meta.transform, (meta.rows, meta.cols), overlap=overlap)
        if (labels >= 0).any():
            X, r, c, k = extract_pixels(tile.iter_blocks(bands), labels, meta.nodata, meta.scale_factor)
        else:
            X, r, c, k = (np.empty((0, bands.size), np.float32), np.empty(0, np.int64), np.empty(0, np.int64),
                          np.empty(0, np.int32))
    if X.size == 0:
        X = np.empty((0, bands.size), np.float32)
    log.info("%s: %d training pixels of %d crowns", tile_id, X.shape[0], np.unique(k).size)
    with atomic_path(out_path, suffix=".npz") as tmp:
        np.savez(tmp, X=X, bands=bands, wavelengths=meta.wavelengths[bands], row=r, col=c,
                 individualID=stems["individualID"].to_numpy(str)[k], plotID=stems["plotID"].to_numpy(str)[k],
                 label=stems["label"].to_numpy(str)[k])
    return Path(out_path)


def read_training(paths: Sequence[str | os.PathLike]) -> dict[str, np.ndarray]:
    """Concatenate tiles' training pixels (:func:`species_training`); the band sets must agree."""
    parts = []
    ref = None
    for p in paths:
        with np.load(p) as z:
            d = {k: z[k] for k in z.files}
        if ref is None:
            ref = d
        elif not np.array_equal(d["bands"], ref["bands"]) or not np.allclose(d["wavelengths"], ref["wavelengths"], atol=0.5):
            raise InputDataError(f"{p}: its bands differ from {paths[0]}'s; all tiles of a site must share one band set")
        parts.append(d)
    if ref is None:
        raise InputDataError("no training pixel files")
    out = {k: np.concatenate([d[k] for d in parts]) for k in ("X", "individualID", "plotID", "label")}
    out["bands"], out["wavelengths"] = ref["bands"], ref["wavelengths"]
    return out


# ----------------------------------------------------------------------------- model
def class_table(labels: Sequence[str], stems: pd.DataFrame, data: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Class codes 1..n of ``labels`` with taxonID, scientificName, n_individuals, n_pixels."""
    rows = []
    for code, lab in enumerate(labels, 1):
        sel = stems["label"] == lab
        if lab == OTHER:
            name = "other taxa: " + ", ".join(sorted(stems.loc[sel, "taxonID"].unique()))
        else:
            names = stems.loc[sel, "scientificName"].dropna()
            name = names.mode().iloc[0] if len(names) else lab
        px = data["label"] == lab
        rows.append({"code": code, "taxonID": lab, "scientificName": name,
                     "n_individuals": int(np.unique(data["individualID"][px]).size), "n_pixels": int(px.sum())})
    return pd.DataFrame(rows)


def species_model(training: Sequence[str | os.PathLike], stems_csv: str | os.PathLike, *,
                  model_path: str | os.PathLike, metrics_csv: str | os.PathLike,
                  confusion_csv: str | os.PathLike, classes_csv: str | os.PathLike, species: Mapping,
                  threads: int = 1) -> pd.DataFrame:
    """Cross-validate (plot-grouped and random pixel split), then fit on all pixels and save.

    Writes ``metrics_csv`` (:func:`aopflow.species.model.score_table` rows of both splits),
    ``confusion_csv`` (plot split, pixel level: rows true, columns predicted taxon),
    ``classes_csv`` and ``model_path`` (joblib: ``pipeline``, ``classes``, ``bands``,
    ``wavelengths``). Returns the metrics.
    """
    import joblib

    from aopflow.species.model import ModelSpec, cross_validate, fit

    spec = ModelSpec.from_config(species)
    data = read_training(training)
    stems = read_used_stems(stems_csv)
    y = data["label"]
    if y.size == 0:
        raise InputDataError("no training pixels: no used crown has valid pixels in the tiles; check the tiles "
                             "cover the plots (stems.csv, reason column) and species.crown")
    present = set(np.unique(y))
    labels = sorted(present - {OTHER}) + ([OTHER] if OTHER in present else [])
    if len(labels) < 2:
        raise InputDataError(f"fewer than two taxa in the training pixels ({labels}); lower species.min_individuals "
                             "or relax the stem filters")
    with threadpool_limits(limits=max(1, threads)):
        metrics, cm, _ = cross_validate(spec, data["X"], y, data["plotID"], data["individualID"], labels, threads)
        model = fit(spec, data["X"], y, threads)
    classes = class_table(labels, stems, data)
    with atomic_path(metrics_csv) as tmp:
        metrics.to_csv(tmp, index=False, float_format="%.4f")
    with atomic_path(confusion_csv) as tmp:
        pd.DataFrame(cm, index=pd.Index(labels, name="true"), columns=labels).to_csv(tmp)
    with atomic_path(classes_csv) as tmp:
        classes.to_csv(tmp, index=False)
    with atomic_path(model_path, suffix=".joblib") as tmp:
        joblib.dump({"pipeline": model, "classes": labels, "bands": data["bands"],
                     "wavelengths": data["wavelengths"], "classifier": spec.classifier}, tmp)
    summary = metrics[(metrics["class"].isin(["macro avg", "accuracy"])) & (metrics["level"] == "pixel")]
    log.info("cross-validation (pixel level):\n%s", summary[["split", "class", "f1"]].to_string(index=False))
    return metrics


# ----------------------------------------------------------------------------- prediction
def species_predict(h5_path: str | os.PathLike, model_path: str | os.PathLike, *, species_path: str | os.PathLike,
                    probability_path: str | os.PathLike, tile_id: str, min_probability: float | None = None,
                    threads: int = 1, block_mb: float = 32.0,
                    brdf: str | os.PathLike | Sequence[str | os.PathLike] | None = None) -> dict[str, Path]:
    """Class (uint8: code of ``classes.csv``, 0 unclassified, 255 no data) and its probability
    (float32, NaN no data) of every pixel of a tile, read once in row blocks of the model's bands."""
    import joblib

    saved = joblib.load(model_path)
    model, bands = saved["pipeline"], np.asarray(saved["bands"])
    _set_threads(model, threads)
    col_codes = column_codes(model.classes_, saved["classes"])
    with NeonTile(h5_path, threads=threads) as tile:
        meta = tile.meta
        check_tile_in_cell(meta, tile_id)
        attach(tile, brdf)
        if bands.max() >= meta.bands or not np.allclose(meta.wavelengths[bands], saved["wavelengths"], atol=0.5):
            raise InputDataError(f"{h5_path}: its bands differ from those the species model was trained on "
                                 f"({model_path}); all tiles of a site must share one band set")
        codes = np.full((meta.rows, meta.cols), CLASS_NODATA, dtype=np.uint8)
        prob = np.full((meta.rows, meta.cols), np.nan, dtype=np.float32)
        with threadpool_limits(limits=max(1, threads)):
            for sl, raw in tile.iter_blocks(bands, target_mb=block_mb):
                codes[sl], prob[sl] = predict_block(model, raw, meta.nodata, meta.scale_factor, min_probability,
                                                    CLASS_NODATA, col_codes)
    names = ",".join(saved["classes"])
    kw = dict(crs=meta.epsg, transform=meta.transform)
    return {
        "species": write_geotiff(species_path, codes, nodata=CLASS_NODATA, band_names=["species class"],
                                 tags={"classes": names, "min_probability": str(min_probability)}, **kw),
        "probability": write_geotiff(probability_path, prob, nodata=float("nan"),
                                     band_names=["probability of the class"], tags={"classes": names}, **kw),
    }


def _set_threads(model, threads: int) -> None:
    clf = model.steps[-1][1]
    if hasattr(clf, "n_jobs"):
        clf.n_jobs = max(1, threads)


# ----------------------------------------------------------------------------- figures
def species_map_figure(mosaic_path, classes_csv, png_path, title: str = "Tree species (predicted)") -> Path:
    """The species mosaic with a legend of scientific names (0 unclassified in light grey)."""
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    from aopflow.products import CLASS_COLORS
    from aopflow.raster import read_decimated

    classes = pd.read_csv(classes_csv)
    arr, ext, nodata, _ = read_decimated(mosaic_path)
    a = arr[0].astype(float)
    a[arr[0] == (nodata if nodata is not None else CLASS_NODATA)] = np.nan
    n = len(classes)
    colors = ["#e0e0e0"] + [CLASS_COLORS[i % len(CLASS_COLORS)] for i in range(n)]
    fig = Figure(figsize=(8, 6.5), layout="constrained")
    ax = fig.subplots()
    ax.imshow(np.ma.masked_invalid(a), cmap=ListedColormap(colors), norm=BoundaryNorm(np.arange(-0.5, n + 1), n + 1),
              extent=ext, interpolation="nearest")
    ax.set_title(title)
    ax.set_xlabel("Easting (m)")
    ax.set_ylabel("Northing (m)")
    ax.ticklabel_format(useOffset=False, style="plain")
    handles = [Patch(color=colors[0], label="unclassified")] + [
        Patch(color=colors[r.code], label=f"{r.scientificName} ({r.taxonID})") for r in classes.itertuples()]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return write_png(fig, png_path, dpi=110)


def confusion_figure(confusion_csv, png_path) -> Path:
    """Row-normalised confusion matrix of the plot-grouped cross-validation (pixel level)."""
    from matplotlib.figure import Figure

    cm = pd.read_csv(confusion_csv, index_col=0)
    m = cm.to_numpy(float)
    norm = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    fig = Figure(figsize=(1.0 + 0.7 * len(cm), 0.8 + 0.7 * len(cm)), layout="constrained")
    ax = fig.subplots()
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, f"{norm[i, j]:.2f}\n({int(m[i, j])})", ha="center", va="center", fontsize=7,
                    color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(cm.columns)), cm.columns, rotation=45, ha="right")
    ax.set_yticks(range(len(cm.index)), cm.index)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true (field)")
    ax.set_title("Plot-grouped CV, pixels (row fractions, counts)")
    return write_png(fig, png_path, dpi=110)


def f1_figure(metrics_csv, png_path) -> Path:
    """Per-taxon F1 (pixel level) of the plot-grouped and the random pixel split, side by side."""
    from matplotlib.figure import Figure

    m = pd.read_csv(metrics_csv)
    px = m[(m["level"] == "pixel") & ~m["class"].isin(["weighted avg", "accuracy"])]
    classes = list(dict.fromkeys(px["class"]))
    x = np.arange(len(classes))
    fig = Figure(figsize=(1.5 + 0.8 * len(classes), 4), layout="constrained")
    ax = fig.subplots()
    for k, (split, color) in enumerate((("plot", "#1b9e77"), ("random", "#d95f02"))):
        vals = px[px["split"] == split].set_index("class").reindex(classes)["f1"]
        ax.bar(x + (k - 0.5) * 0.4, vals, width=0.4, color=color,
               label="grouped by plot" if split == "plot" else "random pixel split (leaky)")
    ax.set_xticks(x, classes, rotation=45, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("F1")
    ax.set_title("Species classifier: F1 per taxon (pixel level)")
    ax.legend(fontsize=8)
    return write_png(fig, png_path, dpi=110)
