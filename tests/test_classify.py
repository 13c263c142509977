import json

import numpy as np
import pandas as pd
import pytest

from varsky.classify import (
    LabelError,
    classify,
    feature_columns,
    load_model,
    save_model,
    score,
)


def test_score_by_hand():
    # classes a, b; true a a b b; predicted a b b b.
    metrics = score(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), ["a", "b"])
    # a: precision 1/1, recall 1/2, F1 2/3; b: precision 2/3, recall 1, F1 4/5.
    assert metrics["per_class"]["a"]["recall"] == pytest.approx(0.5)
    assert metrics["per_class"]["b"]["precision"] == pytest.approx(2 / 3)
    assert metrics["macro_f1"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert metrics["accuracy"] == pytest.approx(0.75)
    assert metrics["confusion_matrix"]["rows_true_columns_predicted"] == [
        [1, 1],
        [0, 2],
    ]


def toy_data(n=120, seed=0):
    """Two classes separated in one feature, plus a noise feature."""
    rng = np.random.default_rng(seed)
    cls = np.where(np.arange(n) % 3 == 0, "rare", "common")
    features = pd.DataFrame(
        {
            "source_id": [f"s{i}" for i in range(n)],
            "signal": np.where(cls == "rare", 2.0, -2.0) + rng.normal(0, 0.3, n),
            "noise": rng.normal(0, 1, n),
            "reason": "",
        }
    )
    labels = pd.DataFrame(
        {
            "source_id": features["source_id"],
            "class_name": cls,
            "split": np.where(np.arange(n) < 90, "train", "test"),
        }
    )
    return features, labels


PARAMS = {"n_estimators": 20, "max_depth": 2, "learning_rate": 0.3}


def test_feature_columns_skip_ids_and_text():
    features, _ = toy_data()
    assert feature_columns(features) == ["signal", "noise"]


def test_separable_classes_are_found(tmp_path):
    features, labels = toy_data()
    model, metrics, predictions = classify(features, labels, PARAMS, seed=1)
    assert metrics["macro_f1"] == 1.0
    assert metrics["n_train"] == 90 and metrics["n_test"] == 30
    probabilities = predictions[["p_common", "p_rare"]].sum(axis=1)
    np.testing.assert_allclose(probabilities, 1.0, rtol=1e-6)

    path = tmp_path / "model.json"
    save_model(model, path)
    saved = json.loads(path.read_text())
    assert saved["learner"]["objective"]["name"] == "binary:logistic"
    booster, classes, columns = load_model(path)
    assert classes == ["common", "rare"] and columns == ["signal", "noise"]
    assert booster.num_features() == 2


def test_same_seed_same_model():
    features, labels = toy_data()
    params = dict(PARAMS, subsample=0.5)
    _, _, first = classify(features, labels, params, seed=7)
    _, _, again = classify(features, labels, params, seed=7)
    pd.testing.assert_frame_equal(first, again)


def test_stars_without_features_are_reported():
    features, labels = toy_data()
    extra = pd.DataFrame(
        {"source_id": ["lost"], "class_name": ["rare"], "split": ["test"]}
    )
    _, metrics, _ = classify(features, pd.concat([labels, extra]), PARAMS, seed=1)
    assert metrics["stars_without_features"] == ["lost"]


def test_class_missing_from_training_is_named():
    features, labels = toy_data()
    labels.loc[
        (labels["class_name"] == "rare") & (labels["split"] == "train"), "split"
    ] = "test"
    with pytest.raises(LabelError, match=r"\['rare'\]"):
        classify(features, labels, PARAMS, seed=1)
