"""Supervised classification of variable stars under one evaluation protocol.

Every model of the classification stage (gradient-boosted trees here; the
neural networks of :mod:`varsky.neural`) is scored the same way:

1. the labelled stars of the ``train`` split are cut once into ``K`` stratified
   folds with a fixed seed (:func:`make_folds`), written to a table that every
   model reads;
2. for each fold, the model is trained on the other ``K − 1`` folds and
   predicts the held-back fold, giving one *out-of-fold* probability vector per
   training star (:func:`cross_validate`);
3. each fold is scored (macro-F1, accuracy, per-class precision, recall and F1,
   confusion matrix, :func:`score`) and the scores are summarised as mean and
   standard deviation over the folds (:func:`summarise_folds`);
4. a final model is trained on all training stars and scored once on the
   ``test`` split when the data has one.

Stratified K-fold cross-validation follows Kohavi (1995, IJCAI, "A study of
cross-validation and bootstrap for accuracy estimation and model selection").

XGBoost (Chen & Guestrin 2016, doi:10.1145/2939672.2939785) is trained with
class-balanced sample weights, so that the rare classes (Miras are 7% of
EROS-1) weigh as much as the common ones; optionally it stops adding trees
when the multi-class log-loss of an inner validation split stops improving
(``early_stopping_rounds``; off by default, since the fixed number of trees
chosen by cross-validation on every training star scored higher). Models are
saved as XGBoost JSON, never pickled. Every model's probabilities are then
calibrated on its out-of-fold predictions (:mod:`varsky.calibration`).
"""

from __future__ import annotations

import json
import logging
import time as clock
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.utils.class_weight import compute_sample_weight

from varsky.calibration import calibrate_predictions, reliability
from varsky.io import write_atomic

log = logging.getLogger(__name__)

NON_FEATURE_COLUMNS = {"source_id", "reason", "shard", "class_name", "split", "fold"}

AMPLITUDE_FEATURES = [
    "robust_amplitude",
    "std",
    "median_absolute_deviation",
    "maximum_slope",
]
"""Per-band features whose ratio between neighbouring bands is a derived feature."""

FitPredict = Callable[[pd.DataFrame, np.ndarray, pd.DataFrame], np.ndarray]
"""``fit_predict(train_data, train_codes, predict_data) -> probabilities``."""


class LabelError(ValueError):
    """Labels that cannot be used for training; the message names the stars."""


# --------------------------------------------------------------------------- #
# Inputs: labels, folds, feature columns
# --------------------------------------------------------------------------- #
def check_labels(labels: pd.DataFrame, known_classes: list[str] | None) -> None:
    """Refuse labels with a missing or unknown class name.

    Raises
    ------
    LabelError
        Naming the unknown classes, how many stars carry each, and a few of
        those stars.
    """
    missing = labels["class_name"].isna()
    if missing.any():
        stars = labels.loc[missing, "source_id"].astype(str).tolist()
        raise LabelError(
            f"{len(stars)} stars have no class name in the labels table: "
            f"{_first(stars)}"
        )
    if known_classes is None:
        return
    unknown = labels[~labels["class_name"].isin(known_classes)]
    if len(unknown):
        parts = [
            f"{name!r} ({len(group)} stars, e.g. {_first(group['source_id'], 3)})"
            for name, group in unknown.groupby("class_name", sort=True)
        ]
        raise LabelError(
            f"the labels table has classes that the dataset does not define: "
            f"{'; '.join(parts)}; known classes: {sorted(known_classes)}"
        )


def make_folds(labels: pd.DataFrame, n_folds: int, seed: int) -> pd.DataFrame:
    """Assign each star of the ``train`` split to one of ``n_folds`` folds.

    Stratified: each fold holds about the same fraction of every class
    (scikit-learn's ``StratifiedKFold`` with shuffling seeded by ``seed``).

    Returns
    -------
    pandas.DataFrame
        ``source_id`` (string) and ``fold`` (int32, ``0 … n_folds − 1``), in the
        order of the labels table.

    Raises
    ------
    LabelError
        When a class has fewer training stars than folds, naming the classes
        and their counts.
    """
    train = labels[labels["split"] == "train"].reset_index(drop=True)
    counts = train["class_name"].value_counts()
    small = counts[counts < n_folds]
    if len(small):
        listed = ", ".join(f"{name} ({n} stars)" for name, n in small.items())
        raise LabelError(
            f"classes with fewer training stars than the {n_folds} folds: {listed}; "
            "lower classify.n_folds or drop these classes from the labels"
        )
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    fold = np.empty(len(train), dtype="int32")
    for k, (_, held) in enumerate(
        splitter.split(np.zeros(len(train)), train.class_name)
    ):
        fold[held] = k
    return pd.DataFrame({"source_id": train["source_id"].astype(str), "fold": fold})


def feature_columns(features: pd.DataFrame) -> list[str]:
    """The numeric columns of a feature table that a model may learn from."""
    return [
        c
        for c in features.columns
        if c not in NON_FEATURE_COLUMNS and pd.api.types.is_numeric_dtype(features[c])
    ]


def feature_bands(features: pd.DataFrame) -> list[str]:
    """Bands of a feature table, in order: those with both ``period_<band>`` and
    ``period_power_<band>`` (``period_method``, ``period_fap`` are no bands)."""
    return [
        c[len("period_power_") :]
        for c in features.columns
        if c.startswith("period_power_")
        and f"period_{c[len('period_power_') :]}" in features
    ]


def add_derived_features(features: pd.DataFrame) -> pd.DataFrame:
    """Add features computed from existing columns that trees and networks need.

    Periods of variable stars span four decades (0.2 d RR Lyrae to 1000 d
    Miras) and class boundaries lie at fixed period *ratios*, so periods enter
    as logarithms; amplitudes of pulsating stars grow towards blue bands while
    eclipses are achromatic, so the ratio of amplitudes between neighbouring
    bands separates binaries from pulsators (e.g. Richards et al. 2011, ApJ 733,
    10, doi:10.1088/0004-637X/733/1/10, §3). Added columns:

    - ``log10_period_<b>`` = log10 of ``period_<b>`` (days);
    - ``log10_period`` = log10 of the ``period`` column if present, else of the
      period of the band with the highest ``period_power_<b>``;
    - ``log10_period_ratio_<b1>_<b2>`` = log10(``period_<b1>`` / ``period_<b2>``),
      0 when both bands agree, ±0.301 at a factor 2 (binaries, harmonics);
    - ``<f>_ratio_<b1>_<b2>`` = ``<f>_<b1>`` / ``<f>_<b2>`` for every ``<f>`` of
      :data:`AMPLITUDE_FEATURES` present.

    Non-positive or missing inputs give NaN. The input is not modified.
    """
    out = features.copy()
    bands = feature_bands(features)
    new: dict[str, np.ndarray] = {}
    for band in bands:
        new[f"log10_period_{band}"] = _log10(out[f"period_{band}"])
    new["log10_period"] = _log10(_best_period(out, bands))
    for b1, b2 in pairwise(bands):
        new[f"log10_period_ratio_{b1}_{b2}"] = (
            new[f"log10_period_{b1}"] - new[f"log10_period_{b2}"]
        )
        for name in AMPLITUDE_FEATURES:
            if f"{name}_{b1}" in out and f"{name}_{b2}" in out:
                top = out[f"{name}_{b1}"].to_numpy(dtype="float64")
                bottom = out[f"{name}_{b2}"].to_numpy(dtype="float64")
                with np.errstate(divide="ignore", invalid="ignore"):
                    ratio = np.where(bottom > 0, top / bottom, np.nan)
                new[f"{name}_ratio_{b1}_{b2}"] = ratio
    for name, values in new.items():
        out[name] = values
    return out


def _log10(values) -> np.ndarray:
    values = np.asarray(values, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(values > 0, np.log10(values), np.nan)


def _best_period(features: pd.DataFrame, bands: list[str]) -> np.ndarray:
    if "period" in features:
        return features["period"].to_numpy(dtype="float64")
    if not bands:
        return np.full(len(features), np.nan)
    powers = features[[f"period_power_{b}" for b in bands]].to_numpy(dtype="float64")
    periods = features[[f"period_{b}" for b in bands]].to_numpy(dtype="float64")
    best = np.argmax(np.where(np.isnan(powers), -np.inf, powers), axis=1)
    return periods[np.arange(len(features)), best]


def stars_without_features(features: pd.DataFrame, columns: list[str]) -> list[str]:
    """Stars whose every feature column is NaN; a model cannot learn from them."""
    empty = features[columns].isna().all(axis=1).to_numpy()
    return sorted(features.loc[empty, "source_id"].astype(str))


def join_labels(
    features: pd.DataFrame, labels: pd.DataFrame, columns: list[str] | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """Attach class and split to each star's features.

    Labelled stars without a feature row (every band removed by the cleaning)
    or whose features are all NaN are logged by name and returned, never
    dropped silently.

    Returns
    -------
    joined : pandas.DataFrame
        ``source_id``, ``class_name``, ``split`` and the feature columns of
        every labelled star with at least one finite feature.
    lost : list of str
        The labelled stars left out, sorted.
    """
    columns = feature_columns(features) if columns is None else columns
    empty = set(stars_without_features(features, columns))
    usable = features[~features["source_id"].astype(str).isin(empty)]
    joined = labels[["source_id", "class_name", "split"]].merge(
        usable, on="source_id", how="inner", validate="one_to_one"
    )
    lost = sorted(set(labels["source_id"].astype(str)) - set(joined["source_id"]))
    if lost:
        log.warning(
            "%d labelled stars have no features (no row, or every feature NaN) "
            "and are not classified: %s",
            len(lost),
            _first(lost, 20),
        )
    return joined.reset_index(drop=True), lost


def _first(names, n: int = 10) -> str:
    names = [str(s) for s in names]
    return ", ".join(names[:n]) + (
        f" ... ({len(names) - n} more)" if len(names) > n else ""
    )


# --------------------------------------------------------------------------- #
# Scores
# --------------------------------------------------------------------------- #
def score(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> dict:
    """Macro-F1, accuracy, per-class precision/recall/F1 and the confusion matrix.

    ``y_true`` and ``y_pred`` are integer codes into ``classes``. Per class,
    precision = TP / (TP + FP), recall = TP / (TP + FN), F1 their harmonic
    mean; macro-F1 is the unweighted mean of the per-class F1 (Sokolova &
    Lapalme 2009, doi:10.1016/j.ipm.2009.03.002).
    """
    codes = list(range(len(classes)))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=codes, zero_division=0
    )
    return {
        "macro_f1": float(
            f1_score(y_true, y_pred, labels=codes, average="macro", zero_division=0)
        ),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(classes)
        },
        "confusion_matrix": {
            "classes": classes,
            "rows_true_columns_predicted": confusion_matrix(
                y_true, y_pred, labels=codes
            ).tolist(),
        },
    }


def summarise_folds(fold_scores: list[dict], classes: list[str]) -> dict:
    """Mean and standard deviation over folds of the scores of :func:`score`.

    The spread is the sample standard deviation (``ddof=1``) of the per-fold
    values. The confusion matrix is given as the sum over folds (every
    training star counted once) and as per-fold mean and standard deviation.
    """

    def spread(values: list[float]) -> dict:
        values = np.asarray(values, dtype="float64")
        std = float(values.std(ddof=1)) if values.size > 1 else 0.0
        return {"mean": float(values.mean()), "std": std}

    matrices = np.array(
        [s["confusion_matrix"]["rows_true_columns_predicted"] for s in fold_scores]
    )
    return {
        "n_folds": len(fold_scores),
        "macro_f1": spread([s["macro_f1"] for s in fold_scores]),
        "accuracy": spread([s["accuracy"] for s in fold_scores]),
        "per_class": {
            name: {
                key: spread([s["per_class"][name][key] for s in fold_scores])
                for key in ("precision", "recall", "f1")
            }
            for name in classes
        },
        "confusion_matrix": {
            "classes": classes,
            "rows_true_columns_predicted": matrices.sum(axis=0).tolist(),
            "mean": matrices.mean(axis=0).tolist(),
            "std": (
                matrices.std(axis=0, ddof=1) if len(matrices) > 1 else 0 * matrices[0]
            ).tolist(),
        },
    }


# --------------------------------------------------------------------------- #
# The protocol
# --------------------------------------------------------------------------- #
def cross_validate(
    fit_predict: FitPredict,
    data: pd.DataFrame,
    folds: pd.DataFrame,
    classes: list[str],
    *,
    model_name: str,
    calibration_bins: int = 10,
    calibration: dict | None = None,
) -> tuple[dict, pd.DataFrame]:
    """Run the evaluation protocol for one model.

    Parameters
    ----------
    fit_predict : callable
        ``fit_predict(train, codes, predict)`` trains a fresh model on the rows
        of ``train`` (class codes ``codes``) and returns class probabilities
        ``(len(predict), len(classes))`` for the rows of ``predict``.
    data : pandas.DataFrame
        One row per labelled star: ``source_id``, ``class_name``, ``split`` and
        whatever the model reads.
    folds : pandas.DataFrame
        ``source_id``, ``fold`` from :func:`make_folds`. Training stars of
        ``data`` that are in no fold are refused.
    classes : list of str
        Class names; a star's code is its index here.
    calibration : dict, optional
        ``method`` (:data:`varsky.calibration.METHODS`) and
        ``temperature_bounds``: the calibrator fitted on the out-of-fold
        probabilities (:func:`varsky.calibration.calibrate_predictions`).
        Without it the raw probabilities are published.

    Returns
    -------
    metrics : dict
        ``cross_validation`` (:func:`summarise_folds` plus the ``folds`` list
        and the out-of-fold ``reliability`` of the raw probabilities), and
        ``holdout`` (:func:`score` of the final model on the ``test`` split,
        or ``None``), plus counts and seconds spent training and predicting;
        with ``calibration``, its summary under ``calibration``. Scores are
        those of the raw probabilities' most probable class (the same class
        after temperature scaling).
    predictions : pandas.DataFrame
        ``source_id``, ``split``, ``fold`` (−1 for test stars),
        ``class_name``, ``predicted_class`` and ``p_<class>`` per class:
        out-of-fold for training stars, from the final model for test stars;
        calibrated when ``calibration`` is given, the raw ones then kept as
        ``raw_p_<class>``.

    The final model is the last one ``fit_predict`` trains; a ``fit_predict``
    that keeps its last model (see :func:`xgboost_fit_predict`) hands it back.
    """
    code = {c: i for i, c in enumerate(classes)}
    y = data["class_name"].map(code).to_numpy()
    fold = (
        data["source_id"]
        .map(folds.set_index("source_id")["fold"])
        .fillna(-1)
        .to_numpy(dtype=int)
    )
    train = (data["split"] == "train").to_numpy()
    test = (data["split"] == "test").to_numpy()
    unassigned = data.loc[train & (fold < 0), "source_id"].tolist()
    if unassigned:
        raise LabelError(
            f"{len(unassigned)} training stars are in no fold of the folds table "
            f"(was it made from other labels?): {_first(unassigned)}"
        )

    probabilities = np.full((len(data), len(classes)), np.nan)
    fold_scores, fit_seconds = [], 0.0
    for k in sorted(set(fold[train])):
        started = clock.perf_counter()
        fit_rows, held = train & (fold != k), train & (fold == k)
        probabilities[held] = fit_predict(data[fit_rows], y[fit_rows], data[held])
        fold_scores.append(score(y[held], probabilities[held].argmax(axis=1), classes))
        fit_seconds += clock.perf_counter() - started
        log.info(
            "%s fold %d: trained on %d stars, macro-F1 %.3f on %d stars, %.1f s",
            model_name,
            k,
            fit_rows.sum(),
            fold_scores[-1]["macro_f1"],
            held.sum(),
            clock.perf_counter() - started,
        )

    # The final model learns from every training star; it predicts the test
    # split when there is one (else one training star, to keep the interface).
    started = clock.perf_counter()
    predict_rows = test if test.any() else np.flatnonzero(train)[:1]
    final = fit_predict(data[train], y[train], data[predict_rows])
    final_seconds = clock.perf_counter() - started
    holdout = None
    if test.any():
        probabilities[test] = final
        holdout = score(y[test], final.argmax(axis=1), classes)
        log.info(
            "%s final model: held-out macro-F1 %.3f on %d stars, %.1f s",
            model_name,
            holdout["macro_f1"],
            test.sum(),
            final_seconds,
        )

    summary = summarise_folds(fold_scores, classes)
    summary["folds"] = fold_scores
    summary["reliability"] = reliability(
        probabilities[train], y[train], calibration_bins
    )
    metrics = {
        "model": model_name,
        "classes": classes,
        "n_train": int(train.sum()),
        "n_test": int(test.sum()),
        "cross_validation": summary,
        "holdout": holdout,
        "seconds_cross_validation": fit_seconds,
        "seconds_final_model": final_seconds,
    }
    predicted = probabilities.argmax(axis=1)
    predictions = pd.DataFrame(
        {
            "source_id": data["source_id"].astype(str).to_numpy(),
            "split": data["split"].to_numpy(),
            "fold": fold.astype("int32"),
            "class_name": data["class_name"].to_numpy(),
            "predicted_class": [classes[i] for i in predicted],
            **{f"p_{c}": probabilities[:, i] for i, c in enumerate(classes)},
        }
    )
    if calibration:
        predictions, metrics["calibration"] = calibrate_predictions(
            predictions,
            classes,
            calibration["method"],
            calibration_bins,
            tuple(calibration["temperature_bounds"]),
        )
    return metrics, predictions


def inner_validation_split(
    codes: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified indices ``(fit, validation)`` for early stopping.

    Falls back to an unstratified split when a class has a single star.
    """
    index = np.arange(len(codes))
    counts = np.bincount(codes)
    stratify = codes if counts[counts > 0].min() >= 2 else None
    return train_test_split(
        index, test_size=fraction, random_state=seed, stratify=stratify
    )


# --------------------------------------------------------------------------- #
# XGBoost
# --------------------------------------------------------------------------- #
def train_xgboost(
    X: pd.DataFrame,
    y: np.ndarray,
    params: dict,
    seed: int,
    threads: int = 1,
    n_classes: int | None = None,
) -> xgb.XGBClassifier:
    """Fit a multi-class XGBoost model with class-balanced sample weights.

    Weights are ``w_i = N / (K n_{y_i})`` (``N`` stars, ``K`` classes,
    ``n_k`` stars of class ``k``). With ``params["early_stopping_rounds"]``, a
    stratified ``params["validation_fraction"]`` of ``X`` is held back and
    trees are added until its weighted multi-class log-loss has not improved
    for that many rounds; the model keeps the best iteration.
    """
    params = dict(params)
    rounds = params.pop("early_stopping_rounds", None)
    fraction = params.pop("validation_fraction", None)
    n_classes = int(n_classes or (int(y.max()) + 1))
    model = xgb.XGBClassifier(
        objective="multi:softprob",
        num_class=n_classes,
        tree_method="hist",
        eval_metric="mlogloss",
        early_stopping_rounds=rounds,
        random_state=seed,
        n_jobs=threads,
        **params,
    )
    weights = compute_sample_weight("balanced", y)
    if rounds:
        fit, val = inner_validation_split(y, fraction, seed)
        model.fit(
            X.iloc[fit],
            y[fit],
            sample_weight=weights[fit],
            eval_set=[(X.iloc[val], y[val])],
            sample_weight_eval_set=[weights[val]],
            verbose=False,
        )
    else:
        model.fit(X, y, sample_weight=weights)
    return model


def xgboost_fit_predict(
    columns: list[str],
    params: dict,
    seed: int,
    threads: int,
    n_classes: int,
    keep: dict | None = None,
) -> FitPredict:
    """A :data:`FitPredict` for XGBoost on the given feature columns.

    When ``keep`` is a dict, the last trained model is stored in it as
    ``keep["model"]``, and the seconds spent predicting as ``keep["predict_s"]``.
    """

    def fit_predict(train, codes, predict):
        model = train_xgboost(train[columns], codes, params, seed, threads, n_classes)
        started = clock.perf_counter()
        probabilities = model.predict_proba(predict[columns])
        if keep is not None:
            keep.update(model=model, predict_s=clock.perf_counter() - started)
        return probabilities

    return fit_predict


def feature_importance(model: xgb.XGBClassifier, columns: list[str]) -> pd.DataFrame:
    """Total gain of each feature, normalised to sum to 1, most important first.

    Gain is the summed reduction of the training loss over all splits on the
    feature (Chen & Guestrin 2016, eq. 7); features never split on score 0.
    """
    gain = model.get_booster().get_score(importance_type="total_gain")
    values = np.array([gain.get(c, 0.0) for c in columns])
    total = values.sum() or 1.0
    table = pd.DataFrame({"feature": columns, "gain": values / total})
    table = table.sort_values("gain", ascending=False, kind="stable")
    table["rank"] = np.arange(1, len(table) + 1, dtype="int32")
    return table.reset_index(drop=True)


def prepare_features(
    features: pd.DataFrame, labels: pd.DataFrame, derived: bool
) -> tuple[pd.DataFrame, list[str], list[str], list[str]]:
    """The joined table a feature-based model learns from.

    Returns the joined table (:func:`join_labels`), its feature columns, the
    class names (sorted) and the labelled stars left out.
    """
    if derived:
        features = add_derived_features(features)
    columns = feature_columns(features)
    data, lost = join_labels(features, labels, columns)
    classes = sorted(labels["class_name"].unique())
    return data, columns, classes, lost


def classify(
    features: pd.DataFrame,
    labels: pd.DataFrame,
    folds: pd.DataFrame,
    options: dict,
    seed: int,
    threads: int = 1,
    known_classes: list[str] | None = None,
) -> tuple[xgb.XGBClassifier, dict, pd.DataFrame, pd.DataFrame]:
    """Cross-validate XGBoost, then train it on the whole ``train`` split.

    Parameters
    ----------
    options : dict
        The ``classify`` section of the config: ``xgboost`` (model and early
        stopping settings), ``validation_fraction``, ``derived_features``,
        ``calibration_bins``.

    Returns
    -------
    model : xgboost.XGBClassifier
        Trained on every training star, with the class names and feature
        columns stored as booster attributes.
    metrics : dict
        The held-out scores at the top level (``macro_f1``, ``accuracy``,
        ``per_class``, ``confusion_matrix``; the cross-validated ones when the
        data has no test split) and the protocol's full output (see
        :func:`cross_validate`), plus ``stars_without_features``.
    predictions : pandas.DataFrame
        See :func:`cross_validate`.
    importance : pandas.DataFrame
        ``feature``, ``gain``, ``rank`` of the final model.
    """
    started = clock.perf_counter()
    check_labels(labels, known_classes)
    data, columns, classes, lost = prepare_features(
        features, labels, options["derived_features"]
    )
    _check_training_set(data[data["split"] == "train"], classes)
    params = {
        **options["xgboost"],
        "validation_fraction": options["validation_fraction"],
    }
    final: dict = {}
    fit_predict = xgboost_fit_predict(
        columns, params, seed, threads, len(classes), keep=final
    )
    metrics, predictions = cross_validate(
        fit_predict,
        data,
        folds,
        classes,
        model_name="xgboost",
        calibration_bins=options["calibration_bins"],
        calibration=options.get("calibration"),
    )

    model = final["model"]
    model.get_booster().set_attr(classes=json.dumps(classes))
    model.get_booster().set_attr(features=json.dumps(columns))
    importance = feature_importance(model, columns)

    headline = metrics["holdout"] or _headline(metrics["cross_validation"])
    metrics = {
        **{k: headline[k] for k in ("macro_f1", "accuracy", "per_class")},
        "confusion_matrix": headline["confusion_matrix"],
        "scored_on": "test split" if metrics["holdout"] else "cross-validation",
        **metrics,
        "n_features": len(columns),
        "best_iteration": int(model.best_iteration)
        if options["xgboost"].get("early_stopping_rounds")
        else None,
        "stars_without_features": lost,
    }
    log.info(
        "xgboost: %d stars, %d features, cross-validated macro-F1 %.3f ± %.3f, %.1f s",
        metrics["n_train"],
        len(columns),
        metrics["cross_validation"]["macro_f1"]["mean"],
        metrics["cross_validation"]["macro_f1"]["std"],
        clock.perf_counter() - started,
    )
    return model, metrics, predictions, importance


def _headline(summary: dict) -> dict:
    """Cross-validated means in the layout of :func:`score`."""
    return {
        "macro_f1": summary["macro_f1"]["mean"],
        "accuracy": summary["accuracy"]["mean"],
        "per_class": {
            name: {k: v["mean"] for k, v in values.items()}
            for name, values in summary["per_class"].items()
        },
        "confusion_matrix": {
            k: summary["confusion_matrix"][k]
            for k in ("classes", "rows_true_columns_predicted")
        },
    }


def _check_training_set(train: pd.DataFrame, classes: list[str]) -> None:
    counts = train["class_name"].value_counts()
    absent = [c for c in classes if counts.get(c, 0) == 0]
    if absent:
        raise LabelError(
            f"classes {absent} have no star with features in the train split"
        )


# --------------------------------------------------------------------------- #
# Soft voting
# --------------------------------------------------------------------------- #
def soft_vote(
    predictions: dict[str, pd.DataFrame],
    classes: list[str],
    calibration_bins: int = 10,
    calibration: dict | None = None,
) -> tuple[dict, pd.DataFrame]:
    """Average the class probabilities of several models, star by star.

    ``p_k(star) = (1/M) Σ_m p_k^(m)(star)`` over the ``M`` models that predict
    the star (Kittler et al. 1998, IEEE TPAMI 20, 226, doi:10.1109/34.667881,
    the "sum rule"). The vote has no parameter to fit, so the averages of
    out-of-fold probabilities are themselves out of fold and are scored fold
    by fold exactly like each model (:func:`summarise_folds`); test stars are
    scored on the average of the final models.

    Parameters
    ----------
    predictions : dict
        Model name to its predictions table (:func:`cross_validate`).
    calibration : dict, optional
        As in :func:`cross_validate`: the average is calibrated in turn on its
        out-of-fold values.
    """
    columns = [f"p_{c}" for c in classes]
    key = ["source_id", "split", "fold", "class_name"]
    stacked = pd.concat(
        [p[key + columns].assign(model=name) for name, p in predictions.items()]
    )
    mean = stacked.groupby(key, sort=False)[columns].mean().reset_index()
    voters = stacked.groupby("source_id", sort=False)["model"].nunique()
    probabilities = mean[columns].to_numpy()
    y = mean["class_name"].map({c: i for i, c in enumerate(classes)}).to_numpy()
    predicted = probabilities.argmax(axis=1)
    fold = mean["fold"].to_numpy()
    train = (mean["split"] == "train").to_numpy()
    test = (mean["split"] == "test").to_numpy()

    fold_scores = [
        score(y[fold == k], predicted[fold == k], classes)
        for k in sorted(set(fold[train]))
    ]
    summary = summarise_folds(fold_scores, classes)
    summary["folds"] = fold_scores
    summary["reliability"] = reliability(
        probabilities[train], y[train], calibration_bins
    )
    metrics = {
        "model": "soft_vote",
        "members": list(predictions),
        "classes": classes,
        "n_train": int(train.sum()),
        "n_test": int(test.sum()),
        "cross_validation": summary,
        "holdout": score(y[test], predicted[test], classes) if test.any() else None,
        "stars_with_fewer_voters": sorted(
            voters[voters < len(predictions)].index.astype(str)
        ),
        "seconds_cross_validation": 0.0,
        "seconds_final_model": 0.0,
    }
    votes = mean.assign(predicted_class=[classes[i] for i in predicted])
    votes = votes[[*key, "predicted_class", *columns]]
    if calibration:
        votes, metrics["calibration"] = calibrate_predictions(
            votes,
            classes,
            calibration["method"],
            calibration_bins,
            tuple(calibration["temperature_bounds"]),
        )
    log.info(
        "soft vote of %s: cross-validated macro-F1 %.3f ± %.3f",
        ", ".join(predictions),
        summary["macro_f1"]["mean"],
        summary["macro_f1"]["std"],
    )
    return metrics, votes


# --------------------------------------------------------------------------- #
# Comparison
# --------------------------------------------------------------------------- #
def comparison_table(metrics: list[dict]) -> pd.DataFrame:
    """One row per model: cross-validated and held-out scores side by side.

    Columns: ``model``, ``macro_f1_mean``, ``macro_f1_std``, ``accuracy_mean``,
    ``accuracy_std``, ``f1_<class>_mean``, ``f1_<class>_std``,
    ``precision_<class>_mean``, ``recall_<class>_mean``, ``min_class_f1``,
    ``ece``, ``brier`` (raw out-of-fold probabilities), ``ece_calibrated``,
    ``brier_calibrated`` (cross-fitted calibration; NaN without one),
    ``holdout_macro_f1`` (NaN without a test split),
    ``seconds``. Sorted by cross-validated macro-F1, best first.
    """
    rows = []
    for m in metrics:
        cv = m["cross_validation"]
        row = {
            "model": m["model"],
            "macro_f1_mean": cv["macro_f1"]["mean"],
            "macro_f1_std": cv["macro_f1"]["std"],
            "accuracy_mean": cv["accuracy"]["mean"],
            "accuracy_std": cv["accuracy"]["std"],
        }
        for name, values in cv["per_class"].items():
            row[f"f1_{name}_mean"] = values["f1"]["mean"]
            row[f"f1_{name}_std"] = values["f1"]["std"]
            row[f"precision_{name}_mean"] = values["precision"]["mean"]
            row[f"recall_{name}_mean"] = values["recall"]["mean"]
        row["min_class_f1"] = min(v["f1"]["mean"] for v in cv["per_class"].values())
        row["ece"] = cv["reliability"]["ece"]
        row["brier"] = cv["reliability"]["brier"]
        calibrated = (m.get("calibration") or {}).get("cross_validation")
        row["ece_calibrated"] = (
            calibrated["calibrated"]["ece"] if calibrated else np.nan
        )
        row["brier_calibrated"] = (
            calibrated["calibrated"]["brier"] if calibrated else np.nan
        )
        row["holdout_macro_f1"] = (
            m["holdout"]["macro_f1"] if m.get("holdout") else np.nan
        )
        row["seconds"] = m["seconds_cross_validation"] + m["seconds_final_model"]
        rows.append(row)
    table = pd.DataFrame(rows)
    return table.sort_values("macro_f1_mean", ascending=False, kind="stable")


# --------------------------------------------------------------------------- #
# Saving and loading
# --------------------------------------------------------------------------- #
def save_model(model: xgb.XGBClassifier, path: str | Path) -> None:
    """Save the model as XGBoost JSON, atomically.

    A model trained with early stopping is saved with the trees up to its best
    iteration only, so that any reader of the file predicts as the model did.
    """
    booster = model.get_booster()
    if model.get_params().get("early_stopping_rounds"):
        trimmed = booster[: model.best_iteration + 1]
        for key, value in booster.attributes().items():
            trimmed.set_attr(**{key: value})
        booster = trimmed
    write_atomic(path, lambda tmp: booster.save_model(tmp))


def load_model(path: str | Path) -> tuple[xgb.Booster, list[str], list[str]]:
    """Load a saved model with its class names and feature columns."""
    booster = xgb.Booster()
    booster.load_model(str(path))
    return (
        booster,
        json.loads(booster.attr("classes")),
        json.loads(booster.attr("features")),
    )


def write_json(data: dict, path: str | Path) -> None:
    """Write a JSON document atomically, NaN written as ``null``."""
    text = json.dumps(_finite(data), indent=2)
    write_atomic(path, lambda tmp: Path(tmp).write_text(text))


def _finite(value):
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
