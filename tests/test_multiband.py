"""Multi-band period search against astropy and known answers."""

import itertools

import numpy as np
import pandas as pd
import pytest
from astropy.timeseries import LombScargle, LombScargleMultiband
from conftest import EROS1_CLASSES

from varsky import io, multiband

PARAMS = multiband.multiband_params({})


@pytest.fixture(scope="module")
def eros1_sample(eros1_dir):
    """The first 40 EROS-1 stars, tidy, placeholders removed, and labels."""
    meta, curves = (
        eros1_dir / "train.csv",
        eros1_dir / "train_varlength_features.csv.gz",
    )
    stars = itertools.islice(io.iter_ramp_stars(meta, curves), 40)
    lightcurves = io.to_tidy(pd.concat([rows for _, rows in stars]))
    labels = io.read_ramp_labels(meta, EROS1_CLASSES, "train").head(40)
    return lightcurves[lightcurves["mag"] < 24.9], labels


def _arrays(star: pd.DataFrame):
    bands = sorted(star["band"].unique())
    index = pd.Categorical(star["band"], categories=bands).codes.astype(np.intp)
    return (
        star["time"].to_numpy(),
        star["mag"].to_numpy(),
        star["mag_err"].to_numpy(),
        index,
    )


@pytest.fixture(scope="module")
def rr_lyrae(eros1_sample):
    lightcurves, labels = eros1_sample
    # The first RR Lyrae of the file; both bands.
    first = labels[labels["class_name"] == "rr_lyrae"]["source_id"].iloc[0]
    return lightcurves[lightcurves["source_id"] == first]


def test_power_matches_astropy_multiband(rr_lyrae):
    time, mag, mag_err, index = _arrays(rr_lyrae)
    grid = (0.01, 0.0013, 2000)
    frequency = grid[0] + grid[1] * np.arange(grid[2])

    ours = multiband.multiband_power(time, mag, mag_err, index, grid)
    reference = LombScargleMultiband(
        time, mag, index, mag_err, nterms_base=1, nterms_band=0
    ).power(frequency, method="flexible")

    # astropy regularises the band terms by 1e-6 of the trace: agreement ~1e-7.
    np.testing.assert_allclose(ours, reference, atol=1e-6)


def test_one_band_is_the_generalised_lomb_scargle(rr_lyrae):
    star = rr_lyrae[rr_lyrae["band"] == "B"]
    time, mag, mag_err, index = _arrays(star)
    grid = (0.01, 0.0007, 5000)
    frequency = grid[0] + grid[1] * np.arange(grid[2])

    ours = multiband.multiband_power(time, mag, mag_err, index, grid)
    reference = LombScargle(time, mag, mag_err).power(frequency, method="cython")

    np.testing.assert_allclose(ours, reference, atol=1e-8)


def test_both_backends_give_the_same_period(rr_lyrae):
    coarse = {**PARAMS, "oversampling": 2, "min_days": 0.2}
    fast = multiband.multiband_period(rr_lyrae, coarse)
    slow = multiband.multiband_period(rr_lyrae, {**coarse, "backend": "astropy"})
    assert fast["period"] == slow["period"]
    assert fast["power"] == pytest.approx(slow["power"], abs=1e-6)


@pytest.mark.parametrize("power", [0.02, 0.05, 0.1])
def test_single_band_fap_is_astropys_baluev(rr_lyrae, power):
    star = rr_lyrae[rr_lyrae["band"] == "R"]
    time, mag, mag_err = (star[c].to_numpy() for c in ("time", "mag", "mag_err"))
    f_max = 10.0

    expected = LombScargle(time, mag, mag_err).false_alarm_probability(
        power, method="baluev", minimum_frequency=0.001, maximum_frequency=f_max
    )
    log10_fap = multiband.log10_baluev_fap(power, time, mag_err, f_max, n_bands=1)

    assert 10**log10_fap == pytest.approx(expected, rel=1e-9)


def test_fap_ranks_strong_peaks_whose_probability_underflows():
    rng = np.random.default_rng(3)
    time = np.sort(rng.uniform(0, 1000, 3000))
    mag_err = np.full(time.size, 0.05)
    weaker = multiband.log10_baluev_fap(0.96, time, mag_err, 10.0, 2)
    stronger = multiband.log10_baluev_fap(0.98, time, mag_err, 10.0, 2)
    assert stronger < weaker < -300


def _two_band_star(seed: int, n_per_band: int, noise: float) -> pd.DataFrame:
    """A 0.5617 d sinusoid seen in two bands with different offsets."""
    rng = np.random.default_rng(seed)
    frames = []
    for band, offset, amplitude in (("B", 18.0, 0.4), ("R", 17.2, 0.4)):
        time = np.sort(rng.uniform(0, 400, n_per_band))
        signal = amplitude * np.sin(2 * np.pi * time / 0.5617)
        frames.append(
            pd.DataFrame(
                {
                    "source_id": "synthetic",
                    "band": band,
                    "time": time,
                    "mag": offset + signal + rng.normal(0, noise, time.size),
                    "mag_err": noise,
                    "flags": 0,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def test_known_period_is_found_jointly():
    star = _two_band_star(seed=1, n_per_band=60, noise=0.1)
    found = multiband.multiband_period(star, PARAMS)
    assert found["period"] == pytest.approx(0.5617, rel=1e-3)
    assert found["fap"] < 1e-10


def test_joint_search_beats_each_band_on_sparse_noisy_data():
    # 25 points per band over 400 d at S/N ~ 1: one band alone mostly picks an
    # alias (1 of 20 right), both bands together half of the time (10 of 20).
    found = [
        multiband.compare_star(_two_band_star(seed, 25, 0.4), PARAMS)
        for seed in range(20)
    ]
    table = pd.DataFrame(found)
    right = lambda column: ((table[column] - 0.5617).abs() < 0.005).mean()  # noqa: E731
    assert right("multiband_period") > right("single_band_period") + 0.3
    assert (table["multiband_log10_fap"] < table["single_band_log10_fap"]).mean() > 0.7


def test_shard_chooses_the_lower_fap(eros1_sample):
    lightcurves, _ = eros1_sample
    table = multiband.multiband_shard(lightcurves, PARAMS)

    assert table.columns.tolist() == multiband.OUTPUT_COLUMNS
    assert len(table) == 40
    multi = table["chosen_method"] == "multiband"
    expect_multi = table["multiband_log10_fap"] <= table["single_band_log10_fap"]
    pd.testing.assert_series_equal(multi, expect_multi, check_names=False)
    np.testing.assert_array_equal(
        table["chosen_period"],
        np.where(multi, table["multiband_period"], table["single_band_period"]),
    )
    assert set(table["single_band_band"]) <= {"B", "R"}


def test_star_with_too_few_points_gets_a_reason():
    star = _two_band_star(seed=1, n_per_band=10, noise=0.1)
    table = multiband.multiband_shard(star, PARAMS)
    assert table["reason"].iloc[0] == "no band with 20 points"
    assert np.isnan(table["chosen_period"].iloc[0])


def test_period_recovery_counts_by_hand():
    periods = pd.DataFrame(
        {
            "source_id": ["a", "b", "c", "d"],
            "single_band_period": [0.5, 1.0, 10.0, np.nan],
            "multiband_period": [0.504, 2.0, 10.2, 0.3],
            "chosen_period": [0.5, 2.0, 10.0, 0.3],
            "chosen_method": ["single_band", "multiband", "single_band", "multiband"],
        }
    )
    labels = pd.DataFrame(
        {
            "source_id": ["a", "b", "c", "d", "e"],
            "class_name": ["rr_lyrae", "rr_lyrae", "cepheid", "rr_lyrae", "mira"],
            "split": "train",
            "reference_period": [0.5, 1.0, 10.0, 0.3, 300.0],
        }
    )
    table = multiband.period_recovery(periods, labels, PARAMS).set_index("class_name")

    # rr_lyrae: a (0.504 is within 1% of 0.5), b, d.
    assert table.loc["rr_lyrae", "n"] == 3
    assert table.loc["rr_lyrae", "single_band_fraction"] == pytest.approx(2 / 3)
    assert table.loc["rr_lyrae", "multiband_fraction"] == pytest.approx(2 / 3)
    assert table.loc["rr_lyrae", "chosen_fraction"] == pytest.approx(2 / 3)
    # cepheid c: 10.2 is 2% off.
    assert table.loc["cepheid", "multiband_fraction"] == 0.0
    assert table.loc["all", "n"] == 4
    assert table.loc["all", "gain"] == pytest.approx(2 / 4 - 3 / 4)
