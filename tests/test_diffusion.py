"""Tests of the diffusion stage: schedules, samplers, the denoiser, synthesis and
the realism measurements, on known answers and on real EROS-1 light curves."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import wasserstein_distance
from standin_gp import make_resampled

from varsky import diffusion
from varsky.features import extract_features
from varsky.io import LIGHTCURVE_SCHEMA, iter_ramp_stars, read_ramp_labels

torch.set_num_threads(1)

SETTINGS = {
    "device": "cpu",
    "schedule": "cosine",
    "n_steps": 100,
    "beta_start": 1e-4,
    "beta_end": 0.02,
    "base_channels": 8,
    "channel_multipliers": [1, 2],
    "training_steps": 120,
    "batch_size": 32,
    "learning_rate": 2e-3,
    "ema_decay": 0.9,
}
CLASSES = {1: "eclipsing_binary", 2: "cepheid", 3: "rr_lyrae", 4: "mira"}
N_STARS = 240


# --------------------------------------------------------------------------- #
# Real inputs: the first stars of EROS-1, folded at their reference period
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def eros1_sample(eros1_dir):
    """Tidy light curves, labels (every fifth star in the test split) and a
    stand-in ``resampled.npz`` of the first N_STARS EROS-1 stars."""
    stars = []
    for i, (_, rows) in enumerate(
        iter_ramp_stars(
            eros1_dir / "train.csv", eros1_dir / "train_varlength_features.csv.gz"
        )
    ):
        if i == N_STARS:
            break
        rows = rows[(rows["mag"] < 24.9) & (rows["mag_err"] > 0)]
        stars.append(rows.sort_values(["band", "time"]))
    lightcurves = pd.concat(stars, ignore_index=True)
    labels = read_ramp_labels(eros1_dir / "train.csv", CLASSES, "train").iloc[:N_STARS]
    labels.loc[labels.index % 5 == 0, "split"] = "test"
    periods = pd.Series(
        labels["reference_period"].to_numpy(), index=labels["source_id"]
    )
    arrays = make_resampled(lightcurves, periods, ["B", "R"], n_phase=64)
    return lightcurves, labels, arrays


@pytest.fixture(scope="module")
def resampled_file(eros1_sample, tmp_path_factory):
    path = tmp_path_factory.mktemp("gp") / "resampled.npz"
    np.savez(path, **eros1_sample[2])
    return path


@pytest.fixture(scope="module")
def trained(eros1_sample, resampled_file):
    data = diffusion.training_set(
        diffusion.load_resampled(resampled_file), eros1_sample[1]
    )
    model, history = diffusion.train_diffusion(data, SETTINGS, seed=3, device="cpu")
    return data, model, history


# --------------------------------------------------------------------------- #
# Inputs
# --------------------------------------------------------------------------- #
def test_load_resampled_names_file_and_array(eros1_sample, tmp_path):
    arrays = dict(eros1_sample[2])
    del arrays["scale"]
    np.savez(tmp_path / "broken.npz", **arrays)
    with pytest.raises(diffusion.DiffusionInputError, match=r"broken\.npz.*scale"):
        diffusion.load_resampled(tmp_path / "broken.npz")

    arrays = dict(eros1_sample[2], offset=eros1_sample[2]["offset"][:, :1])
    np.savez(tmp_path / "narrow.npz", **arrays)
    with pytest.raises(diffusion.DiffusionInputError, match="'offset' has shape"):
        diffusion.load_resampled(tmp_path / "narrow.npz")


def test_training_set_keeps_train_stars_with_every_band(eros1_sample, resampled_file):
    resampled = diffusion.load_resampled(resampled_file)
    labels = eros1_sample[1]
    data = diffusion.training_set(resampled, labels)
    train = set(labels.loc[labels["split"] == "train", "source_id"])
    complete = set(resampled.source_id[resampled.ok.all(axis=1)])
    assert set(data.source_id) == train & complete
    assert data.curves.shape == (len(train & complete), 2, 64)
    # Aligned: every star's brightest B-band phase comes first.
    assert np.all(np.argmin(data.curves[:, 0], axis=1) == 0)


def test_align_phase_rolls_all_bands_together():
    curves = np.zeros((1, 2, 8))
    curves[0, 0, 5] = -2.0  # brightest B at index 5
    curves[0, 1, 6] = 7.0
    aligned = diffusion.align_phase(curves)
    assert aligned[0, 0, 0] == -2.0
    assert aligned[0, 1, 1] == 7.0  # R moved by the same five points


# --------------------------------------------------------------------------- #
# Schedules and the forward process
# --------------------------------------------------------------------------- #
def test_linear_schedule_end_points():
    betas = diffusion.beta_schedule("linear", 5, 0.1, 0.5)
    np.testing.assert_allclose(betas, [0.1, 0.2, 0.3, 0.4, 0.5])


def test_cosine_schedule_matches_closed_form():
    n = 1000
    alpha_bar = np.cumprod(1 - diffusion.beta_schedule("cosine", n))
    f = lambda t: np.cos((t / n + 0.008) / 1.008 * np.pi / 2) ** 2  # noqa: E731
    # Away from the clipped last steps, ᾱ_t = f(t)/f(0) exactly.
    for t in (1, 250, 500, 900):
        assert alpha_bar[t - 1] == pytest.approx(f(t) / f(0), rel=1e-9)
    assert alpha_bar[-1] < 1e-4


def test_unknown_schedule_is_named():
    with pytest.raises(ValueError, match="'quadratic'"):
        diffusion.beta_schedule("quadratic", 10)


def test_add_noise_has_the_forward_marginal():
    schedule = diffusion.NoiseSchedule(diffusion.beta_schedule("linear", 100))
    x0 = torch.full((20000, 1, 1), 3.0)
    t = torch.full((20000,), 49)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0))
    xt = schedule.add_noise(x0, t, noise)
    alpha_bar = float(np.prod(1 - np.linspace(1e-4, 0.02, 100)[:50]))
    assert xt.mean().item() == pytest.approx(np.sqrt(alpha_bar) * 3.0, abs=0.02)
    assert xt.var().item() == pytest.approx(1 - alpha_bar, rel=0.03)


# --------------------------------------------------------------------------- #
# Samplers, with the exact noise predictor of Gaussian data
# --------------------------------------------------------------------------- #
def gaussian_oracle(schedule, mu, sigma):
    """E[ε | x_t] when x_0 ~ N(mu, sigma²): the ideal denoiser, in closed form.

    x_t ~ N(√ᾱ mu, ᾱ sigma² + 1 − ᾱ), and ε and x_t are jointly Gaussian with
    Cov(ε, x_t) = √(1 − ᾱ), so E[ε | x_t] = √(1 − ᾱ)(x_t − √ᾱ mu)/(ᾱ sigma² + 1 − ᾱ).
    """

    def predict_noise(x, t):
        a = schedule.alpha_bar[t].float()[:, None, None]
        return (1 - a).sqrt() * (x - a.sqrt() * mu) / (a * sigma**2 + 1 - a)

    return predict_noise


@pytest.mark.parametrize("schedule_name", ["linear", "cosine"])
@pytest.mark.parametrize(
    ("sampler", "kwargs"),
    [
        ("ancestral", {}),
        ("ancestral", {"clip": 10.0}),
        ("ddim", {"n_sampling_steps": 1000, "eta": 0.0}),
        ("ddim", {"n_sampling_steps": 1000, "eta": 0.0, "clip": 10.0}),
    ],
)
def test_samplers_recover_a_gaussian(schedule_name, sampler, kwargs):
    # 1000 steps: the linear schedule reaches ᾱ_T ≈ 4e-5 only with that many.
    schedule = diffusion.NoiseSchedule(diffusion.beta_schedule(schedule_name, 1000))
    mu, sigma = 1.5, 0.4
    run = {"ancestral": diffusion.sample_ancestral, "ddim": diffusion.sample_ddim}
    x = run[sampler](
        gaussian_oracle(schedule, mu, sigma),
        schedule,
        (20000, 1, 1),
        torch.Generator().manual_seed(1),
        **kwargs,
    )
    assert x.mean().item() == pytest.approx(mu, abs=0.02)
    assert x.std().item() == pytest.approx(sigma, rel=0.05)


@pytest.mark.parametrize("schedule_name", ["linear", "cosine"])
def test_deterministic_ddim_converges_with_more_steps(schedule_name):
    # The deterministic sampler integrates an ODE: with the exact denoiser its
    # error in the spread shrinks as the steps get finer.
    schedule = diffusion.NoiseSchedule(diffusion.beta_schedule(schedule_name, 1000))
    oracle = gaussian_oracle(schedule, 1.5, 0.4)
    errors = [
        abs(
            diffusion.sample_ddim(
                oracle, schedule, (20000, 1, 1), torch.Generator().manual_seed(1), k
            )
            .std()
            .item()
            - 0.4
        )
        for k in (25, 100)
    ]
    assert errors[1] < 0.5 * errors[0]


def test_ddim_with_every_step_and_eta_one_is_ancestral():
    schedule = diffusion.NoiseSchedule(diffusion.beta_schedule("linear", 50))
    oracle = gaussian_oracle(schedule, -1.0, 0.3)
    ancestral = diffusion.sample_ancestral(
        oracle, schedule, (2000, 1, 1), torch.Generator().manual_seed(4)
    )
    ddim = diffusion.sample_ddim(
        oracle, schedule, (2000, 1, 1), torch.Generator().manual_seed(4), 50, 1.0
    )
    torch.testing.assert_close(ddim, ancestral, atol=1e-4, rtol=1e-4)


def test_ddim_steps_are_descending_and_end_at_zero():
    steps = diffusion.ddim_steps(999, 5)
    np.testing.assert_array_equal(steps, [999, 749, 500, 250, 0])
    assert len(diffusion.ddim_steps(9, 50)) == 10


def test_first_sampling_step_skips_the_signal_free_steps():
    schedule = diffusion.NoiseSchedule(diffusion.beta_schedule("cosine", 1000))
    first = diffusion.first_sampling_step(schedule, 1e-3)
    alpha_bar = schedule.alpha_bar.numpy()
    assert alpha_bar[first] >= 1e-3 > alpha_bar[first + 1]
    assert diffusion.first_sampling_step(schedule, 1e-12) == 999


def test_truncated_start_still_recovers_a_gaussian():
    schedule = diffusion.NoiseSchedule(diffusion.beta_schedule("cosine", 1000))
    first = diffusion.first_sampling_step(schedule, 1e-3)
    x = diffusion.sample_ancestral(
        gaussian_oracle(schedule, 1.5, 0.4),
        schedule,
        (20000, 1, 1),
        torch.Generator().manual_seed(2),
        first_step=first,
    )
    assert x.mean().item() == pytest.approx(1.5, abs=0.02)
    assert x.std().item() == pytest.approx(0.4, rel=0.05)


# --------------------------------------------------------------------------- #
# The denoiser
# --------------------------------------------------------------------------- #
def test_unet_is_equivariant_to_circular_shifts():
    torch.manual_seed(0)
    net = diffusion.UNet1d(
        n_bands=2, n_classes=3, base_channels=8, channel_multipliers=(1, 2, 2)
    ).eval()
    x = torch.randn(4, 2, 32)
    t = torch.tensor([0, 10, 50, 99])
    c = torch.tensor([0, 1, 2, 1])
    out = net(x, t, c)
    assert out.shape == x.shape
    # Two halvings: a shift by 4 points commutes with the network.
    shifted = net(torch.roll(x, 4, dims=2), t, c)
    torch.testing.assert_close(shifted, torch.roll(out, 4, dims=2), atol=1e-5, rtol=0)
    # The class changes the prediction.
    assert not torch.allclose(net(x, t, torch.tensor([2, 2, 2, 2])), out)


def test_build_model_refuses_a_grid_the_levels_cannot_halve():
    settings = dict(SETTINGS, channel_multipliers=[1, 1, 1, 1])
    with pytest.raises(ValueError, match="multiple of 8"):
        diffusion.build_model(settings, ["a"], ["B"], 60, 1.0)


# --------------------------------------------------------------------------- #
# Training and sampling on real curves
# --------------------------------------------------------------------------- #
def test_training_lowers_the_loss(trained):
    _, _, history = trained
    first, last = history["loss"].iloc[:20].mean(), history["loss"].iloc[-20:].mean()
    assert last < 0.6 * first
    assert np.all(np.diff(history["seconds"]) >= 0)


def test_training_is_reproducible(trained):
    data = trained[0]
    settings = dict(SETTINGS, training_steps=5)
    a, _ = diffusion.train_diffusion(data, settings, seed=3, device="cpu")
    b, _ = diffusion.train_diffusion(data, settings, seed=3, device="cpu")
    for (name, wa), wb in zip(
        a.network.state_dict().items(), b.network.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(wa, wb, msg=name)


def test_model_round_trip_and_sampling(trained, tmp_path):
    data, model, _ = trained
    diffusion.save_model(model, tmp_path / "model.pt", tmp_path / "model.json")
    loaded = diffusion.load_model(tmp_path / "model.pt", tmp_path / "model.json")
    assert loaded.classes == data.classes

    counts = {data.classes[0]: 3, data.classes[-1]: 2}
    for sampler in ("ddim", "ancestral"):
        a, names = diffusion.sample_curves(
            model, counts, seed=5, sampler=sampler, n_sampling_steps=10, device="cpu"
        )
        b, _ = diffusion.sample_curves(
            loaded, counts, seed=5, sampler=sampler, n_sampling_steps=10, device="cpu"
        )
        assert a.shape == (5, 2, 64)
        assert list(names) == [data.classes[0]] * 3 + [data.classes[-1]] * 2
        np.testing.assert_allclose(a, b, atol=1e-5)
        # Shapes in the units of the data: same order of spread, finite.
        assert np.isfinite(a).all()
        assert 0.2 < a.std() / data.curves.std() < 5


# --------------------------------------------------------------------------- #
# Synthetic observed light curves
# --------------------------------------------------------------------------- #
def test_place_on_cadence_without_noise_is_the_scaled_shape():
    phase_grid = np.arange(64) / 64
    shape = np.sin(2 * np.pi * phase_grid)
    time = np.array([10.0, 10.5, 11.25, 13.0])
    mag = diffusion.place_on_cadence(
        shape,
        phase_grid,
        time,
        np.zeros(4),
        2.0,
        15.0,
        0.3,
        0.25,
        np.random.default_rng(0),
    )
    # phases (t − 10)/2 + 0.25 = 0.25, 0.5, 0.875, 1.75 → sin 1, 0, −√½, −1
    expected = 15.0 + 0.3 * np.array([1.0, 0.0, -np.sqrt(0.5), -1.0])
    np.testing.assert_allclose(mag, expected, atol=0.3 * 2 * np.pi / 64 * 0.5)


def test_synthetic_light_curves_look_like_survey_data(eros1_sample, resampled_file):
    lightcurves, labels, _ = eros1_sample
    resampled = diffusion.load_resampled(resampled_file)
    phase = resampled.phase
    # A pure sinusoid of unit amplitude for every synthetic star.
    shapes = np.broadcast_to(np.sin(2 * np.pi * phase), (6, 2, 64)).copy()
    names = np.array(["rr_lyrae"] * 3 + ["cepheid"] * 3)
    tidy, catalogue = diffusion.synthesize_lightcurves(
        shapes, names, ["B", "R"], phase, resampled, labels, lightcurves, seed=1
    )
    assert list(tidy.columns) == LIGHTCURVE_SCHEMA.names
    train = labels[labels["split"] == "train"].set_index("source_id")
    for _, star in catalogue.iterrows():
        donor = lightcurves[lightcurves["source_id"] == star["cadence_donor"]]
        mine = tidy[tidy["source_id"] == star["source_id"]]
        assert train.loc[star["cadence_donor"], "class_name"] == star["class_name"]
        assert train.loc[star["amplitude_donor"], "class_name"] == star["class_name"]
        # The donor's epochs and errors, band by band.
        np.testing.assert_array_equal(
            mine.sort_values(["band", "time"])["time"], donor["time"]
        )
        np.testing.assert_array_equal(
            mine.sort_values(["band", "time"])["mag_err"], donor["mag_err"]
        )
    # The period search of the features stage finds the period it was given
    # (or half of it, as a sinusoid of enough amplitude shows no other).
    features = extract_features(tidy, {"bands": ["B", "R"], "min_points": 20})
    found = features.set_index("source_id")["period_R"]
    given = catalogue.set_index("source_id")["reference_period"]
    ratio = (found / given.loc[found.index]).to_numpy()
    assert np.mean(np.abs(ratio - 1) < 0.01) >= 0.5


# --------------------------------------------------------------------------- #
# Realism measurements
# --------------------------------------------------------------------------- #
def test_two_sample_test_auc_near_half_for_one_distribution_and_one_for_two():
    rng = np.random.default_rng(0)
    params = {"n_estimators": 50, "max_depth": 3}
    same = diffusion.classifier_two_sample_test(
        rng.normal(size=(300, 2, 8)), rng.normal(size=(300, 2, 8)), params, 3, seed=0
    )
    apart = diffusion.classifier_two_sample_test(
        rng.normal(size=(300, 2, 8)),
        rng.normal(1.5, 1, size=(300, 2, 8)),
        params,
        3,
        seed=0,
    )
    assert abs(same - 0.5) < 0.08
    assert apart > 0.95


def test_tstr_on_copies_of_the_real_train_split_equals_trtr():
    rng = np.random.default_rng(2)
    n = 300
    classes = rng.integers(0, 3, n)
    features = pd.DataFrame(
        {
            "source_id": [f"s{i}" for i in range(n)],
            "a": classes + rng.normal(0, 0.7, n),
            "b": rng.normal(size=n),
        }
    )
    labels = pd.DataFrame(
        {
            "source_id": features["source_id"],
            "class_name": np.array(["x", "y", "z"])[classes],
            "split": np.where(np.arange(n) % 4 == 0, "test", "train"),
        }
    )
    train = labels[labels["split"] == "train"]
    synthetic_labels = train.assign(source_id="copy-" + train["source_id"])
    synthetic_features = features[features["source_id"].isin(train["source_id"])]
    synthetic_features = synthetic_features.assign(
        source_id="copy-" + synthetic_features["source_id"]
    )
    table = diffusion.train_synthetic_test_real(
        features,
        labels,
        synthetic_features,
        synthetic_labels,
        {"n_estimators": 20, "max_depth": 2},
        seed=0,
    ).set_index("train_on")
    assert table.loc["synthetic", "macro_f1"] == table.loc["real", "macro_f1"]
    assert table.loc["real", "n_test"] == 75
    assert 0.5 < table.loc["real", "macro_f1"] < 1.0


def test_feature_distances_match_scipy_and_a_hand_value():
    features = pd.DataFrame(
        {
            "source_id": ["r1", "r2", "r3", "r4", "f1", "f2"],
            "amp": [0.0, 1.0, 0.0, 1.0, 1.0, 2.0],
            "period_R": [1.0, 10.0, 1.0, 10.0, 10.0, 100.0],
            "period_power_R": [0.5] * 6,
        }
    )
    labels = pd.DataFrame(
        {
            "source_id": ["r1", "r2", "r3", "r4"],
            "class_name": "c",
            "split": ["test", "test", "train", "train"],
        }
    )
    synthetic_labels = pd.DataFrame({"source_id": ["f1", "f2"], "class_name": "c"})
    real, fake = features.iloc[:4], features.iloc[4:]
    table = diffusion.feature_distances(
        real, labels, fake, synthetic_labels, ["amp", "period"]
    ).set_index("feature")
    # {0, 1} against {1, 2}: every quantile moves by 1.
    assert table.loc["amp", "wasserstein"] == pytest.approx(1.0)
    assert table.loc["amp", "wasserstein_train_test"] == pytest.approx(0.0)
    # log10 periods {0, 1} against {1, 2}.
    assert table.loc["period", "wasserstein"] == pytest.approx(
        wasserstein_distance([0, 1], [1, 2])
    )
    assert table.loc["amp", "wasserstein_scaled"] == pytest.approx(
        1 / np.std([0, 1], ddof=1)
    )


# --------------------------------------------------------------------------- #
# Configuration
# --------------------------------------------------------------------------- #
def test_config_refuses_inverted_linear_schedule_and_unknown_keys():
    import yaml

    from varsky.config import ConfigError, load_schema, validate_config

    repo = Path(__file__).resolve().parents[1]
    config = yaml.safe_load((repo / "config/config.yaml").read_text())
    schema = load_schema(repo / "config/config.schema.yaml")
    filled = validate_config(config, schema)
    assert filled["diffusion"]["min_alpha_bar"] == 0.001

    config["diffusion"]["beta_start"] = 0.05
    with pytest.raises(ConfigError, match=r"beta_start.*beta_end"):
        validate_config(config, schema)
    config["diffusion"] = {"schedul": "cosine"}
    with pytest.raises(ConfigError, match="'schedul'"):
        validate_config(config, schema)
