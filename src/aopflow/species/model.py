"""The species classifier: strategy tables, plot-grouped cross-validation, the fitted model.

Pixels of one crown are near-duplicates and crowns of one plot share date, flight line and
illumination, so a random pixel split reports too much (Ni-Meister et al. 2024, Remote Sens.
16(17):3313). Scores are therefore computed twice: with folds grouped by plot
(:class:`sklearn.model_selection.StratifiedGroupKFold`: every plot in exactly one test fold) and
with a random pixel split (:class:`~sklearn.model_selection.StratifiedKFold`), so the leakage gap
shows; each at pixel level and at crown level (the majority vote of a crown's out-of-fold pixel
predictions). Rare taxa and a taxon found in fewer plots than folds are handled by passing
``labels=`` and ``zero_division=0`` to the metrics.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.metrics import classification_report, confusion_matrix
from sklearn.model_selection import KFold, StratifiedGroupKFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from aopflow.errors import ConfigError, InputDataError

log = logging.getLogger(__name__)


def _random_forest(seed: int, threads: int):
    # Breiman 2001. Balanced class weights per bootstrap sample: rare taxa are not swamped.
    # 100 trees and leaves of >= 2 pixels keep a 1000 x 1000 tile's prediction under its read.
    return RandomForestClassifier(n_estimators=100, min_samples_leaf=2, max_features="sqrt",
                                  class_weight="balanced_subsample", n_jobs=threads, random_state=seed)


def _hist_gradient_boosting(seed: int, threads: int):
    # Gradient boosting on histogram-binned features (Ke et al. 2017, LightGBM): the IDTReeS
    # baseline's second model.
    return HistGradientBoostingClassifier(max_iter=200, learning_rate=0.1, early_stopping=False,
                                          class_weight="balanced", random_state=seed)


def _lda(seed: int, threads: int):
    # Linear discriminant analysis with Ledoit-Wolf shrinkage of the pooled covariance
    # (Ledoit & Wolf 2004): stable with hundreds of correlated bands and few crowns.
    return LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")


#: species.classifier -> factory(seed, threads) of an unfitted scikit-learn classifier.
CLASSIFIERS: dict[str, Callable] = {
    "random_forest": _random_forest,
    "hist_gradient_boosting": _hist_gradient_boosting,
    "lda": _lda,
}


def _identity(x: np.ndarray) -> np.ndarray:
    return x


def brightness_normalise(x: np.ndarray) -> np.ndarray:
    """Spectra divided by their Euclidean norm, ``(n, bands)`` float32: removes the brightness
    differences between sunlit and shaded sides of crowns (Feilhauer et al. 2010, Remote Sens.
    Environ. 114:2461)."""
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norm, np.float32(1e-6))).astype(np.float32, copy=False)


#: species.features.bands -> transform of cleaned reflectance ``(n, bands)`` float32.
FEATURES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "cleaned": _identity,
    "normalised": brightness_normalise,
}


@dataclass(frozen=True)
class ModelSpec:
    """The ``species:`` keys of the model (see ``config/schema.yaml``)."""

    classifier: str = "random_forest"
    bands: str = "cleaned"
    pca: int | None = 30
    folds: int = 5
    seed: int = 0

    @classmethod
    def from_config(cls, species: Mapping) -> ModelSpec:
        feats = dict(species.get("features") or {})
        cv = dict(species.get("cv") or {})
        spec = cls(classifier=species.get("classifier", cls.classifier),
                   bands=feats.get("bands", cls.bands), pca=feats.get("pca", cls.pca) or None,
                   folds=int(cv.get("folds", cls.folds)), seed=int(cv.get("seed", cls.seed)))
        spec.check()
        return spec

    def check(self) -> None:
        if self.classifier not in CLASSIFIERS:
            raise ConfigError(f"Unknown method {self.classifier!r} for species.classifier; must be one of {sorted(CLASSIFIERS)}")
        if self.bands not in FEATURES:
            raise ConfigError(f"Unknown value {self.bands!r} for species.features.bands; must be one of {sorted(FEATURES)}")
        if self.folds < 2:
            raise ConfigError(f"species.cv.folds must be >= 2, got {self.folds}")


def make_pipeline(spec: ModelSpec, n_features: int, n_samples: int, threads: int = 1) -> Pipeline:
    """Features (band transform, optional PCA fitted on the training pixels) + classifier."""
    steps = [("features", FunctionTransformer(FEATURES[spec.bands]))]
    if spec.pca:
        n = min(int(spec.pca), n_features, max(n_samples - 1, 1))
        steps.append(("pca", PCA(n_components=n, random_state=spec.seed)))
    steps.append(("classifier", CLASSIFIERS[spec.classifier](spec.seed, threads)))
    return Pipeline(steps)


def plot_folds(y: np.ndarray, groups: np.ndarray, folds: int, seed: int):
    """Train/test index pairs of :class:`StratifiedGroupKFold` (shuffled by ``seed``): a plot
    (``groups``) is never in both. Needs at least ``folds`` plots."""
    n_groups = np.unique(groups).size
    if n_groups < folds:
        raise ConfigError(
            f"only {n_groups} plots have training pixels, fewer than species.cv.folds = {folds}: "
            "lower species.cv.folds (>= 2), or use more plots/tiles."
        )
    return list(StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed).split(y, y, groups))


def random_folds(y: np.ndarray, folds: int, seed: int):
    """Train/test index pairs of a stratified random pixel split (the leaky reference)."""
    if np.unique(y, return_counts=True)[1].min() >= folds:
        return list(StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(y, y))
    # A class with fewer pixels than folds cannot be stratified: plain shuffled folds.
    return list(KFold(n_splits=folds, shuffle=True, random_state=seed).split(y))


def out_of_fold(spec: ModelSpec, X: np.ndarray, y: np.ndarray, folds, threads: int = 1) -> np.ndarray:
    """Out-of-fold predicted labels ``(n,)`` (same dtype as ``y``)."""
    pred = np.empty(y.shape, dtype=y.dtype)
    for train, test in folds:
        model = make_pipeline(spec, X.shape[1], train.size, threads)
        model.fit(X[train], y[train])
        pred[test] = model.predict(X[test])
    return pred


def crown_vote(pred: np.ndarray, crowns: np.ndarray) -> dict:
    """Majority label of each crown's pixels (ties: the first label in sorted order)."""
    out = {}
    df = pd.DataFrame({"crown": crowns, "pred": pred})
    for crown, g in df.groupby("crown", sort=False):
        vals, counts = np.unique(g["pred"].to_numpy(), return_counts=True)
        out[crown] = vals[np.argmax(counts)]
    return out


def score_table(y: np.ndarray, pred: np.ndarray, crowns: np.ndarray, labels: Sequence[str],
                split: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Per-taxon and average scores at pixel and crown level, plus the pixel confusion matrix.

    Rows: ``split``, ``level`` (pixel | crown), ``class`` (a taxon, ``macro avg``,
    ``weighted avg`` or ``accuracy``: overall accuracy, given in the precision, recall and f1
    columns alike), ``precision``, ``recall``, ``f1``, ``support_pixels``,
    ``support_individuals``.
    """
    labels = list(labels)
    px_support = pd.Series(y).value_counts()
    crown_true = pd.DataFrame({"crown": crowns, "y": y}).drop_duplicates("crown").set_index("crown")["y"]
    ind_support = crown_true.value_counts()
    votes = crown_vote(pred, crowns)
    crown_pred = crown_true.index.map(votes).to_numpy()
    rows = []
    for level, yt, yp in (("pixel", y, pred), ("crown", crown_true.to_numpy(), crown_pred)):
        rep = classification_report(yt, yp, labels=labels, output_dict=True, zero_division=0)
        for name in [*labels, "macro avg", "weighted avg"]:
            r = rep[name]
            rows.append({"split": split, "level": level, "class": name, "precision": r["precision"],
                         "recall": r["recall"], "f1": r["f1-score"],
                         "support_pixels": int(px_support.get(name, 0)) if name in labels else int(y.size),
                         "support_individuals": int(ind_support.get(name, 0)) if name in labels else int(crown_true.size)})
        acc = float(np.mean(yt == yp))
        rows.append({"split": split, "level": level, "class": "accuracy", "precision": acc, "recall": acc,
                     "f1": acc, "support_pixels": int(y.size), "support_individuals": int(crown_true.size)})
    cm = confusion_matrix(y, pred, labels=labels)
    return pd.DataFrame(rows), cm


def cross_validate(spec: ModelSpec, X: np.ndarray, y: np.ndarray, plots: np.ndarray,
                   crowns: np.ndarray, labels: Sequence[str], threads: int = 1):
    """Scores of the plot-grouped and the random pixel split (see :func:`score_table`).

    ``X`` ``(n, bands)`` float32 cleaned reflectance, ``y`` labels, ``plots`` plotIDs and
    ``crowns`` individualIDs of the pixels, all ``(n,)``. Returns ``(metrics DataFrame,
    confusion matrix of the plot split (n_labels, n_labels) int64, out-of-fold labels of the
    plot split (n,))``.
    """
    if np.unique(y).size < 2:
        raise InputDataError("fewer than two taxa in the training pixels; lower species.min_individuals or widen the stem filters")
    p_folds = plot_folds(y, plots, spec.folds, spec.seed)
    p_pred = out_of_fold(spec, X, y, p_folds, threads)
    r_pred = out_of_fold(spec, X, y, random_folds(y, spec.folds, spec.seed), threads)
    p_tab, cm = score_table(y, p_pred, crowns, labels, "plot")
    r_tab, _ = score_table(y, r_pred, crowns, labels, "random")
    return pd.concat([p_tab, r_tab], ignore_index=True), cm, p_pred


def fit(spec: ModelSpec, X: np.ndarray, y: np.ndarray, threads: int = 1) -> Pipeline:
    """The pipeline fitted on all training pixels."""
    model = make_pipeline(spec, X.shape[1], X.shape[0], threads)
    model.fit(X, y)
    return model
