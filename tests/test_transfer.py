"""A model trained on one survey's mapped bands, applied to another survey."""

import numpy as np
import pandas as pd
import pytest

from varsky.transfer import (
    cross_survey_scores,
    mapped_columns,
    predict,
    train_mapped_model,
)

CLASSES = ["cepheid", "eclipsing_binary", "mira", "rr_lyrae"]


def test_mapped_columns_keep_shape_features_of_the_mapped_band_only():
    source = [
        "median_R",
        "weighted_mean_R",
        "stetson_k_R",
        "period_R",
        "color_B_R",
        "stetson_k_B",
    ]
    columns = mapped_columns(source, {"Ks": "R"}, ["weighted_mean", "median"])

    assert columns == {"stetson_k_Ks": "stetson_k_R", "period_Ks": "period_R"}


def test_mapped_columns_refuse_a_band_the_source_lacks():
    with pytest.raises(ValueError, match="mapped bands"):
        mapped_columns(["stetson_k_B"], {"V": "R"}, [])


def test_cross_survey_scores_count_only_shared_classes():
    predictions = pd.DataFrame(
        {
            "class_name": ["rr_lyrae"] * 3 + ["eclipsing_binary"] * 2 + ["delta_scuti"],
            "predicted_class": [
                "rr_lyrae",
                "rr_lyrae",
                "cepheid",
                "eclipsing_binary",
                "rr_lyrae",
                "rr_lyrae",
            ],
        }
    )
    metrics = cross_survey_scores(
        predictions, CLASSES, ["rr_lyrae", "eclipsing_binary"]
    )

    assert metrics["n_stars"] == 5  # the delta Scuti star is not scored
    assert metrics["accuracy"] == pytest.approx(3 / 5)
    rr, eb = metrics["per_class"]["rr_lyrae"], metrics["per_class"]["eclipsing_binary"]
    assert (rr["precision"], rr["recall"]) == pytest.approx((2 / 3, 2 / 3))
    assert (eb["precision"], eb["recall"]) == pytest.approx((1.0, 1 / 2))
    assert metrics["macro_f1"] == pytest.approx(2 / 3)
    assert set(metrics["per_class"]) == {"rr_lyrae", "eclipsing_binary"}


def test_unlabelled_targets_get_no_scores():
    predictions = pd.DataFrame(
        {"class_name": [np.nan, np.nan], "predicted_class": ["mira", "cepheid"]}
    )
    assert cross_survey_scores(predictions, CLASSES, []) == {
        "n_stars": 0,
        "shared_classes": [],
    }


def test_a_model_trained_on_r_classifies_ks_light_curves_by_period():
    rng = np.random.default_rng(3)
    n = 60
    short = rng.uniform(0.3, 0.7, n)  # RR Lyrae-like periods
    middle = rng.uniform(3, 30, n)  # Cepheid-like periods
    long = rng.uniform(150, 400, n)  # Mira-like periods
    source = pd.DataFrame(
        {
            "source_id": [f"s{i}" for i in range(3 * n)],
            "period_R": np.concatenate([short, middle, long]),
            "stetson_k_R": rng.normal(0.8, 0.05, 3 * n),
            "median_R": rng.normal(17, 1, 3 * n),
        }
    )
    labels = pd.DataFrame(
        {
            "source_id": source["source_id"],
            "class_name": ["rr_lyrae"] * n + ["cepheid"] * n + ["mira"] * n,
            "split": "train",
        }
    )
    columns = mapped_columns(list(source.columns[1:]), {"Ks": "R"}, ["median"])
    params = {"n_estimators": 20, "max_depth": 2, "learning_rate": 0.3}
    model, classes = train_mapped_model(source, labels, columns, params, seed=1)

    target = pd.DataFrame(
        {
            "source_id": ["a", "b", "c"],
            "period_Ks": [0.55, 310.0, 8.0],
            "stetson_k_Ks": [0.8, 0.8, 0.8],
        }
    )
    target_labels = pd.DataFrame(
        {"source_id": ["a", "b", "c"], "class_name": [np.nan] * 3}
    )
    predictions = predict(model, classes, target, target_labels)

    assert classes == ["cepheid", "mira", "rr_lyrae"]
    assert list(predictions["predicted_class"]) == ["rr_lyrae", "mira", "cepheid"]
    p = predictions[[f"p_{c}" for c in classes]].sum(axis=1).to_numpy()
    assert p == pytest.approx(1)
