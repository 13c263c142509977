"""Supervised classification of the feature table with gradient-boosted trees.

XGBoost (Chen & Guestrin 2016, doi:10.1145/2939672.2939785) is trained on the
stars of the ``train`` split with class-balanced sample weights, so that the
rare classes (Miras are 7% of EROS-1) weigh as much as the common ones, and
scored on the ``test`` split. Models are saved as XGBoost JSON, never pickled.
"""

from __future__ import annotations

import json
import logging
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
from sklearn.utils.class_weight import compute_sample_weight

from varsky.io import write_atomic

log = logging.getLogger(__name__)

NON_FEATURE_COLUMNS = {"source_id", "reason", "shard"}


class LabelError(ValueError):
    """Labels that cannot be used for training; the message names the stars."""


def feature_columns(features: pd.DataFrame) -> list[str]:
    """The numeric columns of a feature table that a model may learn from."""
    return [
        c
        for c in features.columns
        if c not in NON_FEATURE_COLUMNS and pd.api.types.is_numeric_dtype(features[c])
    ]


def join_labels(features: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Attach class and split to each star's features.

    Labelled stars without a feature row (every band removed by the cleaning)
    are logged by name, never dropped silently.
    """
    joined = labels[["source_id", "class_name", "split"]].merge(
        features, on="source_id", how="inner", validate="one_to_one"
    )
    lost = sorted(set(labels["source_id"]) - set(joined["source_id"]))
    if lost:
        log.warning(
            "%d labelled stars have no features and are not classified: %s",
            len(lost),
            ", ".join(lost[:20]) + (" ..." if len(lost) > 20 else ""),
        )
    return joined


def train_xgboost(
    X: pd.DataFrame, y: np.ndarray, params: dict, seed: int, threads: int = 1
) -> xgb.XGBClassifier:
    """Fit a multi-class XGBoost model with class-balanced sample weights."""
    # XGBoost picks binary:logistic or multi:softprob from the number of classes.
    model = xgb.XGBClassifier(
        tree_method="hist",
        random_state=seed,
        n_jobs=threads,
        **params,
    )
    model.fit(X, y, sample_weight=compute_sample_weight("balanced", y))
    return model


def score(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> dict:
    """Macro-F1, accuracy, per-class precision/recall/F1 and the confusion matrix.

    ``y_true`` and ``y_pred`` are integer codes into ``classes``.
    """
    codes = list(range(len(classes)))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=codes, zero_division=0
    )
    return {
        "macro_f1": float(f1_score(y_true, y_pred, labels=codes, average="macro")),
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


def classify(
    features: pd.DataFrame,
    labels: pd.DataFrame,
    params: dict,
    seed: int,
    threads: int = 1,
) -> tuple[xgb.XGBClassifier, dict, pd.DataFrame]:
    """Train on the ``train`` split, score the ``test`` split.

    Returns the model, the metrics (see :func:`score`, plus counts) and the
    per-star predictions with one ``p_<class>`` probability column per class.
    """
    data = join_labels(features, labels)
    classes = sorted(data["class_name"].unique())
    columns = feature_columns(features)
    y = data["class_name"].map({c: i for i, c in enumerate(classes)}).to_numpy()
    train = (data["split"] == "train").to_numpy()
    test = (data["split"] == "test").to_numpy()
    _check_training_set(data.loc[train], classes)

    model = train_xgboost(data.loc[train, columns], y[train], params, seed, threads)
    model.get_booster().set_attr(classes=json.dumps(classes))
    model.get_booster().set_attr(features=json.dumps(columns))
    probabilities = model.predict_proba(data[columns])
    predicted = probabilities.argmax(axis=1)

    metrics = score(y[test], predicted[test], classes)
    metrics.update(
        n_train=int(train.sum()),
        n_test=int(test.sum()),
        n_features=len(columns),
        stars_without_features=sorted(
            set(labels["source_id"]) - set(data["source_id"])
        ),
    )
    predictions = pd.DataFrame(
        {
            "source_id": data["source_id"],
            "split": data["split"],
            "class_name": data["class_name"],
            "predicted_class": [classes[i] for i in predicted],
            **{f"p_{c}": probabilities[:, i] for i, c in enumerate(classes)},
        }
    )
    log.info(
        "trained on %d stars, %d features; test macro-F1 %.3f on %d stars",
        metrics["n_train"],
        len(columns),
        metrics["macro_f1"],
        metrics["n_test"],
    )
    return model, metrics, predictions


def _check_training_set(train: pd.DataFrame, classes: list[str]) -> None:
    counts = train["class_name"].value_counts()
    absent = [c for c in classes if counts.get(c, 0) == 0]
    if absent:
        raise LabelError(f"classes {absent} have no star in the train split")


def save_model(model: xgb.XGBClassifier, path: str | Path) -> None:
    """Save the model as XGBoost JSON, atomically."""
    write_atomic(path, lambda tmp: model.get_booster().save_model(tmp))


def load_model(path: str | Path) -> tuple[xgb.Booster, list[str], list[str]]:
    """Load a saved model with its class names and feature columns."""
    booster = xgb.Booster()
    booster.load_model(str(path))
    return (
        booster,
        json.loads(booster.attr("classes")),
        json.loads(booster.attr("features")),
    )
