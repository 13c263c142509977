"""Tests of the embedding stage: loader, loss, augmentations, encoder, scores."""

import itertools
import math

import numpy as np
import pandas as pd
import pytest
import torch
from gp_standin import fold_to_grid, make_standin, write_standin
from sklearn.manifold import trustworthiness

from varsky import embed as E
from varsky.io import iter_ramp_stars, read_ramp_labels

torch.set_num_threads(1)

PARAMS = {
    "context": ["log_period", "log_amplitude", "colour"],
    "channels": [8, 16],
    "kernel_size": 5,
    "embedding_dim": 16,
    "projection_dim": 8,
    "temperature": 0.2,
    "epochs": 4,
    "batch_size": 64,
    "learning_rate": 0.003,
    "weight_decay": 0.0001,
    "inference_batch_size": 100,
    "augment": {
        "noise_scale": 1.0,
        "phase_shift": True,
        "drop_fraction": 0.2,
        "crop_fraction": 0.3,
        "context_noise": 0.02,
    },
    "anomaly": {"method": "knn", "k": 3, "n_estimators": 100},
}
NO_AUGMENT = {
    "noise_scale": 0.0,
    "phase_shift": False,
    "drop_fraction": 0.0,
    "crop_fraction": 0.0,
    "context_noise": 0.0,
}
N_STARS = 300


@pytest.fixture(scope="module")
def eros1_standin(eros1_dir, tmp_path_factory):
    """The first EROS-1 stars as resampled curves, folded at the reference period.

    The reference period stands in for the GP stage's period here: this is a
    test input, not a measurement.
    """
    stars = iter_ramp_stars(
        eros1_dir / "train.csv", eros1_dir / "train_varlength_features.csv.gz"
    )
    rows = pd.concat([r for _, r in itertools.islice(stars, N_STARS)])
    rows = rows[(rows["mag"] < 24.9) & (rows["mag_err"] < 1.0)]
    labels = read_ramp_labels(
        eros1_dir / "train.csv",
        {1: "eclipsing_binary", 2: "cepheid", 3: "rr_lyrae", 4: "mira"},
        "train",
    )
    labels = labels[labels["source_id"].isin(rows["source_id"])]
    # Every fourth star plays the test split of the hidden-class protocol.
    labels["split"] = np.where(np.arange(len(labels)) % 4 == 0, "test", "train")
    periods = dict(zip(labels["source_id"], labels["reference_period"], strict=True))
    path = tmp_path_factory.mktemp("gp") / "resampled.npz"
    write_standin(make_standin(rows, periods, ["B", "R"], n_phase=64), path)
    return E.load_resampled(path), labels.reset_index(drop=True)


# --------------------------------------------------------------------------- #
# Input
# --------------------------------------------------------------------------- #
def test_fold_to_grid_recovers_a_sinusoid():
    rng = np.random.default_rng(0)
    period = 2.7
    time = np.sort(rng.uniform(0, 300, 2000))
    mag = np.sin(2 * np.pi * time / period)
    mean, std = fold_to_grid(time, mag, np.full_like(time, 0.1), period, 32)

    centres = (np.arange(32) + 0.5) / 32
    expected = np.sin(2 * np.pi * (centres + time.min() / period))
    # A bin of width 1/32 averages the sine to sinc(1/32) of its centre value.
    np.testing.assert_allclose(mean, expected * np.sinc(1 / 32), atol=0.02)
    assert np.all(std > 0)


def _tiny_archive(n=3, n_bands=2, n_phase=8):
    rng = np.random.default_rng(1)
    return {
        "source_id": np.array([f"s{i}" for i in range(n)]),
        "bands": np.array(["B", "R"][:n_bands]),
        "phase": np.arange(n_phase) / n_phase,
        "mean": rng.normal(size=(n, n_bands, n_phase)).astype(np.float32),
        "std": np.full((n, n_bands, n_phase), 0.1, dtype=np.float32),
        "period": np.array([0.5, 10.0, 100.0][:n]),
        "offset": np.array([[15.0, 14.5], [16.0, 15.0], [17.0, 16.0]])[:n, :n_bands],
        "scale": np.array([[0.1, 0.2], [1.0, 1.0], [0.5, 0.5]])[:n, :n_bands],
        "ok": np.ones((n, n_bands), dtype=bool),
    }


def test_load_resampled_marks_missing_bands(tmp_path):
    arrays = _tiny_archive()
    arrays["ok"][1, 1] = False
    arrays["mean"][2, 0, 3] = np.nan  # a NaN in a band said to be fine
    curves = E.load_resampled(write_standin(arrays, tmp_path / "r.npz"))

    assert curves.bands == ["B", "R"]
    assert curves.ok.tolist() == [[True, True], [True, False], [False, True]]
    np.testing.assert_array_equal(curves.source_id, ["s0", "s1", "s2"])


def test_load_resampled_names_the_file_and_the_array(tmp_path):
    arrays = _tiny_archive()
    del arrays["std"]
    path = write_standin(arrays, tmp_path / "r.npz")
    with pytest.raises(E.ResampledError, match=r"r\.npz.*missing arrays \['std'\]"):
        E.load_resampled(path)

    arrays = _tiny_archive()
    arrays["period"] = arrays["period"][:2]
    path = write_standin(arrays, tmp_path / "s.npz")
    with pytest.raises(E.ResampledError, match=r"s\.npz.*'period' has shape \(2,\)"):
        E.load_resampled(path)


def test_context_table_hand_values(tmp_path):
    arrays = _tiny_archive()
    arrays["ok"][1, 1] = False
    curves = E.load_resampled(write_standin(arrays, tmp_path / "r.npz"))
    table = E.context_table(curves, ["log_period", "log_amplitude", "colour"])

    # log10 P, log10 scale_B, log10 scale_R, offset_B - offset_R
    np.testing.assert_allclose(
        table[0], [math.log10(0.5), -1.0, math.log10(0.2), 0.5], rtol=1e-6
    )
    np.testing.assert_allclose(table[1, :2], [1.0, 0.0])
    assert np.isnan(table[1, 2]) and np.isnan(table[1, 3])
    assert E.context_table(curves, []).shape == (3, 0)


def test_stars_without_period_or_bands_are_flagged(tmp_path):
    arrays = _tiny_archive()
    arrays["period"][0] = np.nan
    arrays["ok"][2] = False
    curves = E.load_resampled(write_standin(arrays, tmp_path / "r.npz"))
    assert E.unusable_reasons(curves).tolist() == [
        "no valid period",
        None,
        "no band with a resampled curve",
    ]


# --------------------------------------------------------------------------- #
# Loss and augmentations
# --------------------------------------------------------------------------- #
def test_nt_xent_hand_computed_for_orthogonal_pairs():
    # Two stars whose views coincide and are orthogonal to each other: each
    # view sees its partner at similarity 1/τ and two others at 0.
    z = torch.eye(2)
    tau = 0.5
    expected = -math.log(math.exp(2.0) / (math.exp(2.0) + 2.0))
    assert E.nt_xent_loss(z, z, tau).item() == pytest.approx(expected, rel=1e-6)


def test_nt_xent_matches_a_loop_over_views():
    rng = np.random.default_rng(3)
    z1, z2 = rng.normal(size=(2, 5, 4))
    tau = 0.3
    z = np.concatenate([z1, z2])
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    total = 0.0
    for i in range(10):
        partner = (i + 5) % 10
        others = [k for k in range(10) if k != i]
        denominator = sum(math.exp(z[i] @ z[k] / tau) for k in others)
        total -= math.log(math.exp(z[i] @ z[partner] / tau) / denominator)
    loss = E.nt_xent_loss(torch.tensor(z1), torch.tensor(z2), tau).item()
    assert loss == pytest.approx(total / 10, rel=1e-9)


def _batch(n=6, n_bands=2, n_phase=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    mean = torch.randn(n, n_bands, n_phase, generator=g)
    std = torch.full_like(mean, 0.1)
    return mean, std, torch.ones_like(mean), torch.randn(n, 3, generator=g)


def test_augment_without_augmentations_is_the_identity():
    mean, std, mask, context = _batch()
    curve, ctx = E.augment(
        mean, std, mask, context, NO_AUGMENT, torch.Generator().manual_seed(0)
    )
    torch.testing.assert_close(curve, torch.cat([mean, mask], dim=1))
    torch.testing.assert_close(ctx, context)


def test_augment_phase_shift_rolls_all_bands_together():
    mean, std, mask, context = _batch()
    params = {**NO_AUGMENT, "phase_shift": True}
    curve, _ = E.augment(mean, std, mask, context, params, torch.Generator())
    for star in range(len(mean)):
        shifts = [
            s
            for s in range(mean.shape[2])
            if torch.equal(torch.roll(mean[star], -s, dims=1), curve[star, :2])
        ]
        assert len(shifts) == 1


def test_augment_noise_has_the_posterior_std():
    mean, std, mask, context = _batch(n=200, n_phase=64)
    params = {**NO_AUGMENT, "noise_scale": 2.0}
    curve, _ = E.augment(mean, std, mask, context, params, torch.Generator())
    residual = (curve[:, :2] - mean) / std
    assert residual.std().item() == pytest.approx(2.0, rel=0.02)


def test_augment_drop_and_crop_mask_the_expected_bins():
    mean, std, mask, context = _batch(n=400, n_phase=100)
    dropped, _ = E.augment(
        mean, std, mask, context, {**NO_AUGMENT, "drop_fraction": 0.25}, None
    )
    assert 1 - dropped[:, 2:].mean().item() == pytest.approx(0.25, abs=0.01)

    cropped, _ = E.augment(
        mean, std, mask, context, {**NO_AUGMENT, "crop_fraction": 0.3}, None
    )
    masks = cropped[:, 2:].numpy()
    np.testing.assert_array_equal(masks[:, 0], masks[:, 1])  # both bands
    gaps = 100 - masks[:, 0].sum(axis=1)
    assert gaps.max() <= 30 and gaps.mean() == pytest.approx(14.5, abs=1.5)
    # One arc: around the circle the mask switches off at most once.
    switches = np.abs(np.diff(masks[:, 0], axis=1, append=masks[:, 0, :1])).sum(1)
    assert switches.max() <= 2


# --------------------------------------------------------------------------- #
# Encoder
# --------------------------------------------------------------------------- #
def test_encoder_is_invariant_to_phase_shifts_by_its_downsampling():
    torch.manual_seed(0)
    encoder = E.build_encoder(2, 3, PARAMS).eval()
    mean, _, mask, context = _batch(n=4, n_phase=64)
    x = E.encoder_input(mean, mask)
    with torch.no_grad():
        base = encoder(x, context)
        shifted = encoder(torch.roll(x, encoder.downsampling, dims=2), context)
        off_grid = encoder(torch.roll(x, 1, dims=2), context)
    assert encoder.downsampling == 4
    torch.testing.assert_close(shifted, base, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(off_grid, base, atol=1e-5)


def test_training_is_seeded_and_the_state_dict_round_trips(eros1_standin, tmp_path):
    curves, _ = eros1_standin
    encoder, history = E.train_encoder(curves, PARAMS, seed=7)
    again, _ = E.train_encoder(curves, {**PARAMS, "epochs": 1}, seed=7)
    first = E.embed(encoder, curves, PARAMS)

    assert history["loss"].iloc[-1] < 0.8 * history["loss"].iloc[0]
    assert list(first.columns[:2]) == ["source_id", "reason"]
    assert first.shape == (len(curves), 2 + PARAMS["embedding_dim"])

    E.save_encoder(encoder, tmp_path / "encoder.pt")
    loaded = E.load_encoder(tmp_path / "encoder.pt", 2, 4, PARAMS)
    pd.testing.assert_frame_equal(E.embed(loaded, curves, PARAMS), first)

    retrained, _ = E.train_encoder(curves, PARAMS, seed=7)
    pd.testing.assert_frame_equal(E.embed(retrained, curves, PARAMS), first)
    different = E.embed(again, curves, PARAMS)
    assert not np.allclose(different.iloc[:, 2:], first.iloc[:, 2:])


def test_embedding_separates_classes_better_than_chance(eros1_standin):
    curves, labels = eros1_standin
    encoder, _ = E.train_encoder(curves, PARAMS, seed=1)
    table = E.embed(encoder, curves, PARAMS)
    matrix = E.representation_matrix(table, E.embedding_columns(16))
    x = E.preprocess(matrix)
    classes = labels.set_index("source_id").loc[matrix.index, "class_name"]
    # Leave-one-out nearest-neighbour classification in the embedding.
    distances = ((x[:, None] - x[None]) ** 2).sum(-1)
    np.fill_diagonal(distances, np.inf)
    predicted = classes.to_numpy()[distances.argmin(axis=1)]
    accuracy = (predicted == classes.to_numpy()).mean()
    majority = classes.value_counts(normalize=True).iloc[0]
    assert accuracy > majority + 0.1


def test_a_star_without_bands_keeps_its_row_with_a_reason(eros1_standin):
    curves, _ = eros1_standin
    few = curves.subset(np.arange(len(curves)) < 5)
    few.ok[2] = False
    encoder = E.build_encoder(2, 4, PARAMS)
    table = E.embed(encoder, few, PARAMS)
    assert table["reason"].tolist()[2] == "no band with a resampled curve"
    assert table.iloc[2, 2:].isna().all()
    assert table.drop(index=2).iloc[:, 2:].notna().all().all()


# --------------------------------------------------------------------------- #
# Few labels, map, anomalies
# --------------------------------------------------------------------------- #
def test_sample_per_class_takes_the_asked_numbers():
    classes = np.array(["a"] * 30 + ["b"] * 5 + ["c"] * 12)
    chosen = E.sample_per_class(classes, 10, np.random.default_rng(0))
    assert pd.Series(classes[chosen]).value_counts().to_dict() == {
        "a": 10,
        "c": 10,
        "b": 5,
    }
    again = E.sample_per_class(classes, 10, np.random.default_rng(0))
    np.testing.assert_array_equal(chosen, again)
    assert len(E.sample_per_class(classes, None, np.random.default_rng(0))) == 47


def _synthetic_labels(n_per_class=80, classes=("a", "b", "c")):
    ids = [f"{c}{i}" for c in classes for i in range(n_per_class)]
    return pd.DataFrame(
        {
            "source_id": ids,
            "class_name": [i[0] for i in ids],
            "split": ["test" if int(i[1:]) % 4 == 0 else "train" for i in ids],
        }
    )


def test_few_label_scores_tell_signal_from_noise():
    labels = _synthetic_labels()
    rng = np.random.default_rng(0)
    codes = labels["class_name"].map({"a": 0, "b": 1, "c": 2}).to_numpy()
    signal = np.eye(3)[codes] * 4 + rng.normal(size=(len(labels), 3))
    noise = rng.normal(size=(len(labels), 3))
    representations = {
        "signal": pd.DataFrame(signal, index=labels["source_id"]),
        "noise": pd.DataFrame(noise, index=labels["source_id"]),
    }
    params = {"labels_per_class": [10, None], "repeats": 3, "C": 1.0, "max_iter": 500}
    table = E.few_label_scores(representations, labels, params, seed=0)

    assert len(table) == 2 * (3 + 1)
    assert set(table.loc[table["labels_per_class"] == "10", "n_train"]) == {30}
    f1 = table.groupby("representation")["macro_f1"].mean()
    assert f1["signal"] > 0.95
    assert f1["noise"] < 0.55


def test_embedding_map_keeps_neighbours():
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=5, size=(4, 10))
    x = np.repeat(centres, 40, axis=0) + rng.normal(size=(160, 10))
    matrix = pd.DataFrame(x, index=[f"s{i}" for i in range(160)])
    points = E.embedding_map(matrix, {"method": "tsne", "perplexity": 20}, seed=0)
    assert list(points.columns) == ["source_id", "x", "y"]
    assert trustworthiness(x, points[["x", "y"]].to_numpy(), n_neighbors=10) > 0.9


def test_knn_distance_hand_values():
    points = np.array([[0.0], [1.0], [3.0], [7.0]])
    np.testing.assert_allclose(E.knn_distance(points, points, 1), [1, 1, 2, 4])
    np.testing.assert_allclose(E.knn_distance(points, points, 2), [3, 2, 3, 6])
    np.testing.assert_allclose(E.knn_distance(points, np.array([[10.0]]), 2), [7])


@pytest.mark.parametrize("method", ["knn", "isolation_forest"])
def test_anomaly_scores_rank_the_outlier_first(method):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 5))
    x[17] += 12
    matrix = pd.DataFrame(x, index=[f"s{i}" for i in range(200)])
    params = {"method": method, "k": 5, "n_estimators": 100}
    scores = E.anomaly_scores(matrix, params, seed=0)
    assert scores.loc[0, "source_id"] == "s17"
    assert scores["rank"].tolist() == list(range(1, 201))


def test_hidden_class_split_never_trains_on_the_hidden_class():
    labels = _synthetic_labels()
    train_ids, scored_ids, is_hidden = E.hidden_class_split(labels, "b")
    by_id = labels.set_index("source_id")
    assert not (by_id.loc[train_ids, "class_name"] == "b").any()
    assert (by_id.loc[train_ids, "split"] == "train").all()
    assert set(scored_ids[is_hidden]) == set(
        labels.loc[labels.class_name == "b"].source_id
    )
    assert (by_id.loc[scored_ids[~is_hidden], "split"] == "test").all()
    with pytest.raises(ValueError, match="'d' is not among"):
        E.hidden_class_split(labels, "d")


@pytest.mark.parametrize("method", ["knn", "isolation_forest"])
def test_hidden_class_auc_far_and_look_alike_classes(method):
    labels = _synthetic_labels(n_per_class=120)
    rng = np.random.default_rng(0)
    centre = {"a": 0.0, "b": 0.0, "c": 40.0}
    x = (
        rng.normal(size=(len(labels), 4))
        + labels["class_name"].map(centre).to_numpy()[:, None]
    )
    matrix = pd.DataFrame(x, index=labels["source_id"])
    params = {"method": method, "k": 5, "n_estimators": 100}

    far = E.hidden_class_auc(matrix, *E.hidden_class_split(labels, "c"), params, 0)
    assert far > 0.99
    # A hidden class drawn like a known one cannot be told apart: chance.
    alike = E.hidden_class_auc(matrix, *E.hidden_class_split(labels, "b"), params, 0)
    assert alike == pytest.approx(0.5, abs=0.1)


@pytest.mark.parametrize("retrain", [False, True])
def test_hidden_class_evaluation_on_eros1_miras(eros1_standin, retrain):
    curves, labels = eros1_standin
    params = {**PARAMS, "epochs": 2}
    encoder, _ = E.train_encoder(curves, params, seed=0)
    embedding = E.embed(encoder, curves, params)
    # Period and amplitudes stand in for the hand-made features here.
    features = pd.DataFrame(
        {
            "source_id": curves.source_id,
            "log_period": np.log10(curves.period),
            "log_scale_R": np.log10(curves.scale[:, 1]),
        }
    )
    table = E.hidden_class_evaluation(
        curves,
        embedding,
        features,
        ["log_period", "log_scale_R"],
        labels,
        "mira",
        params,
        PARAMS["anomaly"],
        retrain_encoder=retrain,
        seed=0,
    )

    assert table["representation"].tolist() == ["embedding", "features"]
    n_mira = int((labels["class_name"] == "mira").sum())
    assert table["n_scored_hidden"].tolist() == [n_mira, n_mira]
    known_train = (labels["split"] == "train") & (labels["class_name"] != "mira")
    assert table["n_reference"].iloc[0] == known_train.sum()
    # Miras pulsate for months: their periods alone set them apart.
    assert table["auc"].min() > 0.8
