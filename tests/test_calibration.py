"""Calibration of class probabilities: known temperatures, falling ECE, and
cross-fitting that never uses a star's own fold."""

import numpy as np
import pandas as pd
import pytest

from varsky import calibration


def _calibrated_sample(n: int, n_classes: int, seed: int):
    """Probabilities that are calibrated by construction, and their classes.

    Logits are Gaussian; each star's class is drawn from softmax(logits), so
    softmax(logits) is the true class probability.
    """
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 2.0, size=(n, n_classes))
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    y = np.array([rng.choice(n_classes, p=row) for row in p])
    return p, y


def test_scale_temperature_by_hand():
    p = np.array([[0.8, 0.2]])
    # softmax(log p / 2) = sqrt(p) normalised: sqrt(.8) / (sqrt(.8) + sqrt(.2)) = 2/3.
    assert calibration.scale_temperature(p, 2.0) == pytest.approx(
        np.array([[2 / 3, 1 / 3]])
    )
    assert calibration.scale_temperature(p, 1.0) == pytest.approx(p)


@pytest.mark.parametrize("true_temperature", [0.5, 2.5])
def test_fit_temperature_recovers_a_known_distortion(true_temperature):
    p, y = _calibrated_sample(8000, 4, seed=1)
    # Sharpening by 1/T makes over-confident probabilities (T > 1 undoes it),
    # softening makes under-confident ones.
    distorted = calibration.scale_temperature(p, 1 / true_temperature)
    fitted = calibration.fit_temperature(distorted, y, (0.05, 20.0))
    assert fitted == pytest.approx(true_temperature, rel=0.08)


def test_calibration_lowers_ece_and_log_loss_of_overconfident_probabilities():
    p, y = _calibrated_sample(6000, 3, seed=2)
    overconfident = calibration.scale_temperature(p, 1 / 3.0)
    fit_p, fit_y = overconfident[:3000], y[:3000]
    new_p, new_y = overconfident[3000:], y[3000:]
    before = calibration.reliability(new_p, new_y, 10)
    for method in ("temperature", "isotonic"):
        calibrator = calibration.fit_calibrator(fit_p, fit_y, method)
        after_p = calibrator.apply(new_p)
        assert after_p.sum(axis=1) == pytest.approx(np.ones(len(after_p)))
        after = calibration.reliability(after_p, new_y, 10)
        assert after["ece"] < before["ece"] / 3
        assert after["brier"] < before["brier"]
        assert calibration.log_loss(after_p, new_y) < calibration.log_loss(new_p, new_y)
    # Temperature scaling never changes the most probable class.
    calibrator = calibration.fit_calibrator(fit_p, fit_y, "temperature")
    assert np.array_equal(calibrator.apply(new_p).argmax(1), new_p.argmax(1))


def test_cross_fit_never_uses_the_calibrated_fold():
    p, y = _calibrated_sample(900, 3, seed=3)
    fold = np.repeat([0, 1, 2], 300)
    calibrated, calibrators = calibration.cross_fit(p, y, fold, "temperature")
    # Fold 0's calibrator is the one fitted on folds 1 and 2 alone ...
    alone = calibration.fit_calibrator(p[fold != 0], y[fold != 0], "temperature")
    assert calibrators[0].temperature == pytest.approx(alone.temperature)
    assert calibrated[fold == 0] == pytest.approx(alone.apply(p[fold == 0]))
    # ... so changing fold 0's classes changes nothing in fold 0.
    shuffled = y.copy()
    shuffled[fold == 0] = (y[fold == 0] + 1) % 3
    again, _ = calibration.cross_fit(p, shuffled, fold, "temperature")
    assert again[fold == 0] == pytest.approx(calibrated[fold == 0])
    assert not np.allclose(again[fold == 1], calibrated[fold == 1])


def test_calibrate_predictions_keeps_raw_columns_and_uses_train_for_test():
    p, y = _calibrated_sample(1000, 2, seed=4)
    overconfident = calibration.scale_temperature(p, 1 / 2.0)
    classes = ["a", "b"]
    split = np.where(np.arange(1000) < 800, "train", "test")
    table = pd.DataFrame(
        {
            "source_id": [f"s{i}" for i in range(1000)],
            "split": split,
            "fold": np.where(split == "train", np.arange(1000) % 4, -1),
            "class_name": [classes[k] for k in y],
            "predicted_class": "a",
            "p_a": overconfident[:, 0],
            "p_b": overconfident[:, 1],
        }
    )
    out, summary = calibration.calibrate_predictions(table, classes, "temperature", 10)
    assert out["raw_p_a"].to_numpy() == pytest.approx(overconfident[:, 0])
    train = split == "train"
    final = calibration.fit_calibrator(overconfident[train], y[train], "temperature")
    assert summary["final"]["temperature"] == pytest.approx(final.temperature)
    assert summary["final"]["temperature"] == pytest.approx(2.0, rel=0.25)
    test = ~train
    assert out.loc[test, ["p_a", "p_b"]].to_numpy() == pytest.approx(
        final.apply(overconfident[test])
    )
    cv = summary["cross_validation"]
    assert cv["calibrated"]["ece"] < cv["raw"]["ece"]
    assert summary["holdout"]["raw"]["count"] == [0] * 5 + list(
        np.histogram(overconfident[test].max(1), np.linspace(0.5, 1, 6))[0]
    )
    rows = calibration.calibration_table([{"model": "m", "calibration": summary}])
    assert len(rows) == 4
    assert set(rows["stage"]) == {"raw", "calibrated"}


def test_unknown_method_is_named():
    with pytest.raises(ValueError, match=r"'platt'.*temperature"):
        calibration.fit_calibrator(np.ones((2, 2)) / 2, np.array([0, 1]), "platt")


def test_bias_temperature_recovers_temperature_and_prior_shift():
    p, y = _calibrated_sample(12000, 3, seed=5)
    # A model trained as if the classes were equally common: its probabilities
    # are the true ones with the log prior shifted by known biases, then
    # sharpened by 1/T.
    shift = np.array([0.0, 1.0, -0.7])
    distorted = calibration.scale_bias_temperature(p, 1 / 1.8, -shift * 1.8)
    temperature, biases = calibration.fit_bias_temperature(distorted, y, (0.05, 20))
    assert temperature == pytest.approx(1.8, rel=0.08)
    assert biases == pytest.approx(shift, abs=0.1)
    recovered = calibration.scale_bias_temperature(distorted, temperature, biases)
    assert recovered == pytest.approx(p, abs=0.03)


def test_protocol_publishes_calibrated_probabilities_and_plots_both():
    from varsky import classify, plots

    p, y = _calibrated_sample(600, 2, seed=6)
    overconfident = calibration.scale_temperature(p, 1 / 2.5)
    data = pd.DataFrame(
        {
            "source_id": [f"s{i}" for i in range(600)],
            "class_name": np.array(["a", "b"])[y],
            "split": np.where(np.arange(600) < 500, "train", "test"),
            "row": np.arange(600),
        }
    )
    folds = pd.DataFrame(
        {"source_id": data["source_id"][:500], "fold": np.arange(500) % 5}
    )

    def fit_predict(train, codes, predict):
        return overconfident[predict["row"].to_numpy()]

    settings = {"method": "temperature", "temperature_bounds": [0.05, 20.0]}
    metrics, predictions = classify.cross_validate(
        fit_predict, data, folds, ["a", "b"], model_name="m", calibration=settings
    )
    assert predictions["raw_p_a"].to_numpy() == pytest.approx(overconfident[:, 0])
    calibrated = metrics["calibration"]["cross_validation"]["calibrated"]
    assert calibrated["ece"] < metrics["cross_validation"]["reliability"]["ece"] / 2
    assert metrics["calibration"]["final"]["temperature"] == pytest.approx(2.5, rel=0.3)
    figure = plots.plot_reliability([metrics])
    titles = [ax.get_title() for ax in figure.axes]
    assert titles == ["raw probabilities", "calibrated (cross-fitted)"]
    label = figure.axes[1].get_legend().get_texts()[1].get_text()
    assert f"ECE {calibrated['ece']:.3f}" in label
