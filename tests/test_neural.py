"""Neural classifiers: scaling, sequences, packing, learning, saving."""

import os

import numpy as np
import pandas as pd
import pytest
import torch

from varsky import classify, neural

torch.set_num_threads(1)


def test_robust_scaler_by_hand():
    train = np.array([[1.0, 7.0], [2.0, 7.0], [3.0, 7.0], [4.0, 7.0], [5.0, np.nan]])
    scaler = neural.RobustScaler(clip=3.0).fit(train)
    # Column 0: median 3, IQR 4 − 2 = 2; column 1: constant, keeps unit scale.
    z = scaler.transform(np.array([[4.0, 8.0], [np.nan, 7.0], [100.0, 7.0]]))
    np.testing.assert_allclose(z, [[0.5, 1.0], [0.0, 0.0], [3.0, 0.0]])


def _tidy(rows):
    return pd.DataFrame(
        rows, columns=["source_id", "band", "time", "mag", "mag_err", "flags"]
    )


def test_band_sequences_by_hand():
    tidy = _tidy(
        [
            ("a", "R", 10.0, 15.0, 0.1, 0),
            ("a", "R", 1.0, 14.0, 0.2, 0),
            ("a", "R", 4.0, 99.0, 0.2, 1),  # flagged: left out
            ("a", "B", 2.0, 16.0, 0.3, 0),
            ("b", "R", 5.0, 13.0, 0.1, 0),
        ]
    )
    ids, values, lengths = neural.band_sequences(tidy, ["B", "R"], max_length=4)
    assert ids == ["a", "b"]
    np.testing.assert_array_equal(lengths, [[1, 2], [0, 1]])
    np.testing.assert_allclose(values[0, 1, :2], [[0.0, 14.0, 0.2], [1.0, 15.0, 0.1]])
    assert values[0, 1, 1, 0] == pytest.approx(np.log10(1 + 9.0))
    assert not values[1, 0].any()


def test_band_gru_ignores_padding():
    torch.manual_seed(0)
    model = neural.BandGRU(
        n_bands=2, hidden=4, layers=1, n_classes=3, dropout=0.0
    ).eval()
    x = torch.randn(1, 5, 3)
    padded = torch.cat([x, torch.full((1, 7, 3), 50.0)], dim=1)
    lengths = torch.tensor([[5, 0]])
    short = model([x, torch.zeros(1, 5, 3)], lengths)
    long = model([padded, torch.zeros(1, 12, 3)], lengths)
    torch.testing.assert_close(short, long)


def _blobs(n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    code = np.arange(n) % 3
    centres = np.array([[0, 0], [4, 0], [0, 4]])
    xy = centres[code] + rng.normal(0, 0.7, (n, 2))
    features = pd.DataFrame(
        {"source_id": [f"s{i}" for i in range(n)], "u": xy[:, 0], "v": xy[:, 1]}
    )
    labels = pd.DataFrame(
        {
            "source_id": features["source_id"],
            "class_name": np.array(["a", "b", "c"])[code],
            "split": np.where(np.arange(n) < 0.75 * n, "train", "test"),
        }
    )
    return features, labels


MLP = {
    "hidden_units": [16],
    "dropout": 0.1,
    "clip": 10.0,
    "learning_rate": 0.01,
    "weight_decay": 0.0,
    "batch_size": 32,
    "max_epochs": 40,
    "patience": 8,
}


def test_mlp_learns_is_seeded_and_saves_state(tmp_path):
    features, labels = _blobs(150, 0)
    folds = classify.make_folds(labels, 3, seed=0)
    options = {
        "mlp": MLP,
        "validation_fraction": 0.2,
        "derived_features": False,
        "calibration_bins": 10,
    }
    model, metrics, predictions = neural.classify_mlp(
        features, labels, folds, options, seed=5
    )
    assert metrics["cross_validation"]["macro_f1"]["mean"] > 0.95
    assert metrics["holdout"]["macro_f1"] > 0.95
    _, _, again = neural.classify_mlp(features, labels, folds, options, seed=5)
    pd.testing.assert_frame_equal(predictions, again)

    path = tmp_path / "mlp.pt"
    neural.save_state(model, path)
    state = torch.load(path, weights_only=True)
    net = neural.FeatureMLP(2, [16], 3, 0.1)
    net.load_state_dict({k: v for k, v in state.items() if not k.startswith("varsky.")})
    scaler = neural.RobustScaler(10.0)
    scaler.center_, scaler.scale_ = (
        state["varsky.center"].numpy(),
        state["varsky.scale"].numpy(),
    )
    test = labels["split"] == "test"
    x = torch.as_tensor(scaler.transform(features.loc[test, ["u", "v"]].to_numpy()))
    p = torch.softmax(net.eval()(x), dim=1).detach().numpy()
    np.testing.assert_allclose(
        p, predictions.loc[test.to_numpy(), ["p_a", "p_b", "p_c"]], atol=1e-5
    )


def test_gru_tells_quiet_from_variable_light_curves():
    rng = np.random.default_rng(1)
    rows = []
    names = []
    for i in range(60):
        variable = i % 2
        names.append(("quiet", "variable")[variable])
        for band, offset in (("B", 0.5), ("R", 0.0)):
            t = np.sort(rng.uniform(0, 300, 20))
            mag = 15 + offset + (0.8 * np.sin(t / 3.0) if variable else 0)
            mag = mag + rng.normal(0, 0.05, t.size)
            rows += [
                (f"s{i}", band, tt, m, 0.05, 0) for tt, m in zip(t, mag, strict=True)
            ]
    tidy = _tidy(rows)
    labels = pd.DataFrame(
        {
            "source_id": [f"s{i}" for i in range(60)] + ["ghost"],
            "class_name": [*names, "quiet"],
            "split": ["train"] * 45 + ["test"] * 16,
        }
    )
    folds = classify.make_folds(labels[labels.source_id != "ghost"], 3, seed=0)
    options = {
        "rnn": {
            "hidden_units": 8,
            "layers": 1,
            "dropout": 0.0,
            "max_length": 20,
            "learning_rate": 0.02,
            "weight_decay": 0.0,
            "batch_size": 16,
            "max_epochs": 20,
            "patience": 20,
        },
        "validation_fraction": 0.2,
        "calibration_bins": 10,
    }
    _, metrics, _ = neural.classify_gru(
        tidy, labels, folds, ["B", "R"], options, seed=0
    )
    assert metrics["stars_without_light_curve"] == ["ghost"]
    assert metrics["holdout"]["macro_f1"] > 0.9


def test_seed_everything_repeats_draws_and_asks_for_deterministic_kernels():
    from varsky.reproducible import seed_everything

    first = seed_everything(7)
    a = (torch.randn(3), torch.randn(3, generator=first))
    second = seed_everything(7)
    b = (torch.randn(3), torch.randn(3, generator=second))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert torch.are_deterministic_algorithms_enabled()
    assert "CUBLAS_WORKSPACE_CONFIG" in os.environ
