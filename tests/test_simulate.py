"""The simulated data source: cadence, errors, shapes, seeding and ingest."""

import json
from pathlib import Path

import nifty_ls
import numpy as np
import pandas as pd
import pytest

from varsky import simulate
from varsky.config import ConfigError, load_schema, validate_config
from varsky.ingest import ingest
from varsky.io import read_lightcurves

REPO = Path(__file__).resolve().parents[1]


def spec(n_stars=40, **simulation):
    return {
        "format": "simulated",
        "bands": ["B", "R"],
        "simulation": {
            "n_stars": n_stars,
            "n_epochs": 120,
            "baseline_days": 1000.0,
            "season_days": 200.0,
            "mag_range": [14.0, 19.0],
            "limiting_mag": 21.0,
            "error_floor": 0.005,
            "class_fractions": dict.fromkeys(simulate.CLASSES, 1.0),
            **simulation,
        },
    }


def test_error_model_matches_hand_values():
    # At m5 the random part is sqrt(0.04) = 0.2 mag; five magnitudes brighter
    # x = 0.01 and sigma^2 = 0.001 * 0.01 + 0.039 * 1e-4 = 1.39e-5.
    sigma = simulate.magnitude_error(np.array([21.0, 16.0]), 21.0, 0.0)
    np.testing.assert_allclose(sigma, [0.2, np.sqrt(1.39e-5)], rtol=1e-12)
    # The floor adds in quadrature.
    floored = simulate.magnitude_error(np.array([16.0]), 21.0, 0.01)
    np.testing.assert_allclose(floored, np.sqrt(1.39e-5 + 1e-4), rtol=1e-12)


def test_cadence_stays_in_seasons_and_baseline():
    rng = np.random.default_rng(0)
    t = simulate.survey_cadence(rng, 5000, 1000.0, 200.0)
    assert np.all(np.diff(t) >= 0)
    assert t.min() >= 0 and t.max() <= 1000.0
    assert np.all(t % simulate.YEAR_DAYS < 200.0)
    # Three full seasons and the 200 days of the fourth are all observed.
    seasons = np.floor(t / simulate.YEAR_DAYS)
    assert set(seasons) == {0.0, 1.0, 2.0}
    # 2 full seasons (400 d) of 600 observable days get about 2/3 of the epochs.
    assert abs((seasons < 2).mean() - 400 / 600) < 0.03


def test_damped_random_walk_has_its_variance_and_correlation():
    rng = np.random.default_rng(1)
    t = np.arange(200_000, dtype=float)
    x = simulate.damped_random_walk(rng, t, tau=20.0, sigma=0.3)
    assert abs(x.std() - 0.3) < 0.02
    # Autocorrelation at lag tau is exp(-1) for an Ornstein-Uhlenbeck process.
    lag = 20
    rho = np.corrcoef(x[:-lag], x[lag:])[0, 1]
    assert abs(rho - np.exp(-1)) < 0.03


@pytest.mark.parametrize("shape", [simulate.rr_lyrae, simulate.cepheid])
def test_pulsators_rise_fast_and_decline_slowly(shape):
    rng = np.random.default_rng(2)
    t = np.linspace(0.0, 100.0, 50_001)
    for _ in range(5):
        mag, period = shape(rng, t)
        order = np.argsort((t / period) % 1.0)
        brightening = (np.diff(mag[order]) < 0).mean()
        assert brightening < 0.4, "magnitude must fall (brighten) fast"
        assert 0.2 <= np.ptp(mag) <= 1.2 + 1e-6


def test_lomb_scargle_recovers_simulated_periods():
    sim = simulate.Simulation.from_spec(
        spec(
            n_stars=20,
            n_epochs=200,
            class_fractions={"rr_lyrae": 1.0},
            mag_range=[14.0, 16.0],
        )
    )
    curves, labels = simulate.simulate_stars(sim, 0, 20, seed=3)
    assert (labels["class_name"] == "rr_lyrae").all()
    recovered = 0
    for (sid, band), rows in curves.groupby(["source_id", "band"]):
        if band != "R":
            continue
        result = nifty_ls.lombscargle(
            rows["time"].to_numpy(),
            rows["mag"].to_numpy(),
            fmin=1 / 2.0,
            fmax=1 / 0.2,
            samples_per_peak=10,
        )
        frequency, power = result.freq(), result.power
        best = 1 / frequency[np.argmax(power)]
        truth = labels.set_index("source_id").loc[sid, "reference_period"]
        recovered += abs(best - truth) / truth < 0.01
    assert recovered >= 18


def test_stars_do_not_depend_on_shard_boundaries():
    sim = simulate.Simulation.from_spec(spec(n_stars=12))
    whole, whole_labels = simulate.simulate_stars(sim, 0, 12, seed=7)
    part, part_labels = simulate.simulate_stars(sim, 5, 12, seed=7)
    ids = part_labels["source_id"]
    pd.testing.assert_frame_equal(
        whole[whole["source_id"].isin(ids)].reset_index(drop=True), part
    )
    pd.testing.assert_frame_equal(
        whole_labels.iloc[5:].reset_index(drop=True), part_labels
    )
    other, _ = simulate.simulate_stars(sim, 5, 12, seed=8)
    assert not np.allclose(other["mag"].iloc[:50], part["mag"].iloc[:50])


def test_class_fractions_are_followed():
    fractions = dict.fromkeys(simulate.CLASSES, 0.0)
    fractions.update(cepheid=3.0, constant=1.0)
    sim = simulate.Simulation.from_spec(
        spec(n_stars=400, n_epochs=10, class_fractions=fractions)
    )
    _, labels = simulate.simulate_stars(sim, 0, 400, seed=0)
    counts = labels["class_name"].value_counts()
    assert set(counts.index) == {"cepheid", "constant"}
    # Binomial(400, 0.75): standard deviation 8.7 stars.
    assert abs(counts["cepheid"] - 300) < 35


def test_shard_wise_ingest_equals_whole_reader(tmp_path):
    fractions = dict.fromkeys(simulate.CLASSES, 0.0)
    fractions.update(rr_lyrae=1.0, constant=1.0)
    dataset = spec(n_stars=23, class_fractions=fractions)
    manifest = {"source": "simulated", "local_dir": "", "files": {}, "seed": 5}
    labels = ingest(
        "",
        manifest,
        dataset,
        tmp_path / "shards",
        tmp_path / "labels.parquet",
        shard_size=10,
        holdout_fraction=0.25,
        seed=5,
    )
    shards = sorted((tmp_path / "shards").glob("shard-*.parquet"))
    assert [p.stem for p in shards] == ["shard-0000", "shard-0001", "shard-0002"]
    assert labels["shard"].value_counts().sort_index().tolist() == [10, 10, 3]

    whole, whole_labels = simulate.read_simulated(Path(), manifest, dataset)
    pd.testing.assert_frame_equal(read_lightcurves(shards), whole)
    pd.testing.assert_series_equal(labels["class_name"], whole_labels["class_name"])
    assert (labels["split"] == "test").sum() == round(0.25 * 23)


def test_config_accepts_the_simulated_dataset_and_checks_it():
    schema = load_schema(REPO / "config/config.schema.yaml")
    base = {"datasets": ["sim"], "data": {"sim": spec()}}
    filled = validate_config(json.loads(json.dumps(base)), schema)
    assert filled["data"]["sim"]["simulation"]["n_stars"] == 40

    bad = json.loads(json.dumps(base))
    bad["data"]["sim"]["simulation"]["mag_range"] = [20.0, 14.0]
    with pytest.raises(ConfigError, match="mag_range"):
        validate_config(bad, schema)

    missing = {"datasets": ["sim"], "data": {"sim": {"format": "simulated"}}}
    with pytest.raises(ConfigError, match=r"simulation|bands"):
        validate_config(missing, schema)
