"""Classify one survey with a model trained on another.

Two surveys rarely share bands: EROS-1 has B and R, VVV has Ks, Catalina one
unfiltered band. A model trained on every EROS-1 column would meet only
missing values on another survey. Instead, the user maps each band of the
target survey to the training survey's band it stands for
(``model_from.bands``, e.g. ``{Ks: R}``), and a model is trained on the
training survey's features of the mapped bands only, leaving out

* colours, which need two bands of one survey;
* the features named in ``classify.transfer_exclude`` (by default the mean
  and median magnitude): their values depend on the distance of the field and
  the survey's zero-point, not on the kind of variable.

What remains are shape, amplitude and timescale features (amplitudes,
moments, Stetson K, von Neumann η, the period), which the target's light
curves give under the mapped band's column name. The model is XGBoost with
the classify section's settings and seed (see :mod:`varsky.classify`).

Amplitudes differ from band to band (a pulsating star's amplitude in Ks is
about a third of that in V), so a mapped model is a first look at an
unlabelled survey, not a substitute for labels of its own; the cross-survey
scores on labelled stars of shared classes (:func:`cross_survey_scores`) say
how far it can be trusted.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.exceptions import UndefinedMetricWarning

from varsky.classify import join_labels, score, train_xgboost

log = logging.getLogger(__name__)


def mapped_columns(
    source_columns: list[str], band_map: dict[str, str], exclude: list[str]
) -> dict[str, str]:
    """Target column name -> source column name, for every mapped feature.

    A source column ``<feature>_<band>`` of a mapped source band is kept unless
    it is a colour or ``<feature>`` is in ``exclude``; its target name ends in
    the target's band instead.
    """
    columns = {}
    for target_band, source_band in band_map.items():
        suffix = f"_{source_band}"
        for column in source_columns:
            if not column.endswith(suffix) or column.startswith("color_"):
                continue
            feature = column[: -len(suffix)]
            if feature in exclude:
                continue
            columns[f"{feature}_{target_band}"] = column
    if not columns:
        raise ValueError(
            f"no source feature column ends in any of the mapped bands "
            f"{sorted(set(band_map.values()))}"
        )
    return columns


def train_mapped_model(
    source_features: pd.DataFrame,
    source_labels: pd.DataFrame,
    columns: dict[str, str],
    params: dict,
    seed: int,
    threads: int = 1,
) -> tuple[xgb.XGBClassifier, list[str]]:
    """XGBoost on every labelled source star, on the mapped columns only.

    The feature names of the model are the target's column names.
    """
    data, _ = join_labels(source_features, source_labels)
    data = data[data["class_name"].notna()]
    classes = sorted(data["class_name"].unique())
    y = data["class_name"].map({c: i for i, c in enumerate(classes)}).to_numpy()
    X = data[list(columns.values())].set_axis(list(columns), axis=1)
    model = train_xgboost(X, y, params, seed, threads)
    log.info(
        "mapped model: %d source stars, %d features, classes %s",
        len(data),
        len(columns),
        ", ".join(classes),
    )
    return model, classes


def predict(
    model: xgb.XGBClassifier,
    classes: list[str],
    features: pd.DataFrame,
    labels: pd.DataFrame,
) -> pd.DataFrame:
    """Class probabilities of every target star that has features.

    Columns: ``source_id``, ``class_name`` (the target's own label, NaN when
    unlabelled), ``predicted_class``, ``p_<class>`` for each model class.
    """
    names = list(model.get_booster().feature_names)
    missing = [c for c in names if c not in features]
    if missing:
        raise ValueError(f"the target feature table lacks the columns {missing}")
    probabilities = model.predict_proba(features[names])
    own = labels.set_index("source_id")["class_name"]
    return pd.DataFrame(
        {
            "source_id": features["source_id"].to_numpy(),
            "class_name": features["source_id"].map(own).to_numpy(),
            "predicted_class": np.asarray(classes)[probabilities.argmax(axis=1)],
            **{f"p_{c}": probabilities[:, i] for i, c in enumerate(classes)},
        }
    )


def cross_survey_scores(
    predictions: pd.DataFrame, classes: list[str], shared_classes: list[str]
) -> dict:
    """Scores of the mapped model on the target's stars of shared classes.

    Only stars whose own class is in ``shared_classes`` (default: every target
    class the model knows) count; a prediction into a class the target star
    cannot have (a Mira, say) counts as wrong. Returns :func:`score` over the
    model's classes, plus ``n_stars`` and ``shared_classes``.
    """
    known = sorted(set(predictions["class_name"].dropna()) & set(classes))
    shared = sorted(shared_classes) if shared_classes else known
    unknown = sorted(set(shared) - set(classes))
    if unknown:
        raise ValueError(f"shared classes {unknown} are not classes of the model")
    scored = predictions[predictions["class_name"].isin(shared)]
    if scored.empty:
        return {"n_stars": 0, "shared_classes": shared}
    code = {c: i for i, c in enumerate(classes)}
    with warnings.catch_warnings():
        # Classes of the model without a true star have an undefined F1; the
        # macro-F1 below leaves them out.
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        metrics = score(
            scored["class_name"].map(code).to_numpy(),
            scored["predicted_class"].map(code).to_numpy(),
            classes,
        )
    metrics["per_class"] = {c: metrics["per_class"][c] for c in shared}
    # Macro-F1 over the shared classes only: the others have no true star.
    metrics["macro_f1"] = float(
        np.mean([v["f1"] for v in metrics["per_class"].values()])
    )
    metrics.update(n_stars=len(scored), shared_classes=shared)
    return metrics
