"""The evaluation protocol and XGBoost, against hand-computed values."""

import numpy as np
import pandas as pd
import pytest

from varsky import classify


def test_score_matches_hand_computed_values():
    result = classify.score(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), ["a", "b"])
    # a: precision 1, recall 1/2, F1 2/3; b: precision 2/3, recall 1, F1 4/5.
    assert result["macro_f1"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert result["accuracy"] == pytest.approx(0.75)
    assert result["per_class"]["a"]["recall"] == pytest.approx(0.5)
    assert result["per_class"]["b"]["precision"] == pytest.approx(2 / 3)
    assert result["confusion_matrix"]["rows_true_columns_predicted"] == [[1, 1], [0, 2]]


def test_summarise_folds_gives_mean_and_sample_std():
    folds = [
        classify.score(np.array([0, 1]), np.array([0, 1]), ["a", "b"]),
        classify.score(np.array([0, 1]), np.array([0, 0]), ["a", "b"]),
    ]
    summary = classify.summarise_folds(folds, ["a", "b"])
    # macro-F1: 1 and (2/3 + 0)/2 = 1/3.
    assert summary["macro_f1"]["mean"] == pytest.approx(2 / 3)
    assert summary["macro_f1"]["std"] == pytest.approx(np.std([1, 1 / 3], ddof=1))
    assert summary["confusion_matrix"]["rows_true_columns_predicted"] == [
        [2, 0],
        [1, 1],
    ]
    assert summary["per_class"]["b"]["recall"]["mean"] == pytest.approx(0.5)


def test_reliability_ece_and_brier_by_hand():
    p = np.array([[0.95, 0.05], [0.85, 0.15], [0.25, 0.75], [0.35, 0.65]])
    result = classify.reliability(p, np.array([0, 1, 1, 1]), n_bins=10)
    # One star per bin; gaps |1−0.95|, |0−0.85|, |1−0.75|, |1−0.65|.
    assert result["ece"] == pytest.approx((0.05 + 0.85 + 0.25 + 0.35) / 4)
    assert result["brier"] == pytest.approx((0.005 + 1.445 + 0.125 + 0.245) / 4)
    assert result["count"] == [0, 0, 0, 0, 0, 0, 1, 1, 1, 1]


def _labels(counts: dict[str, int], split: str = "train") -> pd.DataFrame:
    names = [c for c, n in counts.items() for _ in range(n)]
    return pd.DataFrame(
        {
            "source_id": [f"s{i}" for i in range(len(names))],
            "class_name": names,
            "split": split,
        }
    )


def test_make_folds_is_stratified_seeded_and_train_only():
    labels = pd.concat(
        [
            _labels({"a": 50, "b": 11}),
            _labels({"a": 3}, "test").assign(source_id=list("xyz")),
        ]
    )
    folds = classify.make_folds(labels, n_folds=5, seed=3)
    assert set(folds["source_id"]) == {f"s{i}" for i in range(61)}
    per_fold = folds.merge(labels).groupby(["fold", "class_name"]).size().unstack()
    assert per_fold["a"].tolist() == [10] * 5
    assert per_fold["b"].max() - per_fold["b"].min() <= 1
    again = classify.make_folds(labels, n_folds=5, seed=3)
    pd.testing.assert_frame_equal(folds, again)
    assert not folds.equals(classify.make_folds(labels, n_folds=5, seed=4))


def test_make_folds_names_classes_smaller_than_folds():
    with pytest.raises(classify.LabelError, match=r"rare \(3 stars\)"):
        classify.make_folds(_labels({"common": 40, "rare": 3}), n_folds=5, seed=0)


def test_check_labels_names_unknown_classes_and_stars():
    labels = _labels({"mira": 2, "quasar": 1})
    with pytest.raises(classify.LabelError, match=r"'quasar' \(1 stars, e.g. s2\)"):
        classify.check_labels(labels, ["mira", "cepheid"])
    classify.check_labels(labels.iloc[:2], ["mira", "cepheid"])


def test_join_labels_reports_stars_with_all_nan_features(caplog):
    labels = _labels({"a": 3})
    features = pd.DataFrame(
        {"source_id": ["s0", "s1", "s2"], "x": [1.0, np.nan, 2.0], "y": [np.nan] * 3}
    )
    features = features[features["source_id"] != "s2"]  # s2: no feature row
    joined, lost = classify.join_labels(features, labels)
    assert joined["source_id"].tolist() == ["s0"]
    assert lost == ["s1", "s2"]
    assert "s1, s2" in caplog.text


def test_derived_features_by_hand():
    features = pd.DataFrame(
        {
            "source_id": ["a", "b"],
            "period_B": [2.0, 10.0],
            "period_power_B": [0.9, 0.1],
            "period_R": [1.0, 100.0],
            "period_power_R": [0.2, 0.5],
            "robust_amplitude_B": [0.6, 0.3],
            "robust_amplitude_R": [0.3, 0.0],
        }
    )
    out = classify.add_derived_features(features)
    np.testing.assert_allclose(out["log10_period_ratio_B_R"], [np.log10(2), -1.0])
    # The band of highest power gives the period: B for a, R for b.
    np.testing.assert_allclose(out["log10_period"], [np.log10(2), 2.0])
    assert out["robust_amplitude_ratio_B_R"].iloc[0] == pytest.approx(2.0)
    assert np.isnan(out["robust_amplitude_ratio_B_R"].iloc[1])
    assert "log10_period" not in features


def _separable(n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Three classes that the feature ``x`` separates; ``noise`` is useless."""
    rng = np.random.default_rng(seed)
    code = np.arange(n) % 3
    features = pd.DataFrame(
        {
            "source_id": [f"s{i}" for i in range(n)],
            "x": code + rng.normal(0, 0.1, n),
            "noise": rng.normal(0, 1, n),
        }
    )
    labels = pd.DataFrame(
        {
            "source_id": features["source_id"],
            "class_name": np.array(["a", "b", "c"])[code],
            "split": np.where(np.arange(n) < 0.8 * n, "train", "test"),
        }
    )
    return features, labels


def test_cross_validate_predicts_every_star_out_of_fold():
    features, labels = _separable(60, 0)
    data, _ = classify.join_labels(features, labels)
    folds = classify.make_folds(labels, 4, seed=1)
    seen = []

    def nearest_mean(train, codes, predict):
        seen.append(set(train["source_id"]) & set(predict["source_id"]))
        means = np.array([train["x"][codes == k].mean() for k in range(3)])
        nearest = np.abs(predict["x"].to_numpy()[:, None] - means).argmin(axis=1)
        return np.eye(3)[nearest]

    metrics, predictions = classify.cross_validate(
        nearest_mean, data, folds, ["a", "b", "c"], model_name="nearest"
    )
    assert all(not overlap for overlap in seen)
    assert len(seen) == 5  # four folds and the final model
    assert metrics["cross_validation"]["macro_f1"]["mean"] == pytest.approx(1.0)
    assert metrics["holdout"]["accuracy"] == pytest.approx(1.0)
    assert (predictions["fold"] >= 0).sum() == 48
    assert predictions.filter(like="p_").notna().all().all()


def test_xgboost_learns_stops_early_and_round_trips(tmp_path):
    features, labels = _separable(240, 1)
    folds = classify.make_folds(labels, 3, seed=0)
    options = {
        "derived_features": False,
        "validation_fraction": 0.2,
        "calibration_bins": 10,
        "xgboost": {
            "n_estimators": 500,
            "max_depth": 2,
            "learning_rate": 0.3,
            "early_stopping_rounds": 10,
        },
    }
    model, metrics, predictions, importance = classify.classify(
        features, labels, folds, options, seed=0, known_classes=["a", "b", "c"]
    )
    assert metrics["cross_validation"]["macro_f1"]["mean"] > 0.97
    assert metrics["macro_f1"] == metrics["holdout"]["macro_f1"]
    assert metrics["best_iteration"] < 400
    assert importance["feature"].iloc[0] == "x"

    path = tmp_path / "model.json"
    classify.save_model(model, path)
    booster, classes, columns = classify.load_model(path)
    assert classes == ["a", "b", "c"] and columns == ["x", "noise"]
    import xgboost as xgb

    test = predictions["split"] == "test"
    reloaded = booster.predict(xgb.DMatrix(features[columns][-48:]))
    np.testing.assert_allclose(
        reloaded, predictions.loc[test, ["p_a", "p_b", "p_c"]].to_numpy(), rtol=1e-5
    )


def test_comparison_table_sorts_by_cross_validated_macro_f1():
    def fake(name, f1):
        one = classify.score(np.array([0, 1]), np.array([0, 1]), ["a", "b"])
        cv = classify.summarise_folds([one, one], ["a", "b"])
        cv["macro_f1"]["mean"] = f1
        cv["reliability"] = {"ece": 0.1, "brier": 0.2}
        return {
            "model": name,
            "cross_validation": cv,
            "holdout": None,
            "seconds_cross_validation": 1.0,
            "seconds_final_model": 0.5,
        }

    table = classify.comparison_table([fake("slow", 0.7), fake("good", 0.9)])
    assert table["model"].tolist() == ["good", "slow"]
    assert table["seconds"].tolist() == [1.5, 1.5]
    assert np.isnan(table["holdout_macro_f1"]).all()


def test_soft_vote_averages_probabilities_and_scores_each_fold():
    base = pd.DataFrame(
        {
            "source_id": ["a", "b", "c", "d", "t"],
            "split": ["train"] * 4 + ["test"],
            "fold": [0, 0, 1, 1, -1],
            "class_name": ["x", "y", "x", "y", "y"],
        }
    )
    first = base.assign(p_x=[0.9, 0.6, 0.4, 0.2, 0.7], p_y=[0.1, 0.4, 0.6, 0.8, 0.3])
    second = base.assign(p_x=[0.7, 0.2, 0.8, 0.4, 0.1], p_y=[0.3, 0.8, 0.2, 0.6, 0.9])
    second = second[second["source_id"] != "d"]  # a star only one model predicts
    metrics, votes = classify.soft_vote({"one": first, "two": second}, ["x", "y"])
    np.testing.assert_allclose(votes["p_x"], [0.8, 0.4, 0.6, 0.2, 0.4])
    assert votes["predicted_class"].tolist() == ["x", "y", "x", "y", "y"]
    assert metrics["cross_validation"]["macro_f1"]["mean"] == pytest.approx(1.0)
    assert metrics["holdout"]["accuracy"] == pytest.approx(1.0)
    assert metrics["stars_with_fewer_voters"] == ["d"]
