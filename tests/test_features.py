"""Tests of varsky.features: hand-worked values, the extractor, bad input."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from varsky import features as ft
from varsky.io import parse_list_cell

DATA = Path(__file__).parents[1] / ".." / "shared" / "data"


def arrays(mag, time=None, err=None):
    """Float arrays (time, mag, err) for a tiny light curve."""
    mag = np.asarray(mag, dtype=float)
    time = np.arange(mag.size, dtype=float) if time is None else np.asarray(time, float)
    err = np.ones_like(mag) if err is None else np.asarray(err, dtype=float)
    return time, mag, err


# --------------------------------------------------------------------------- #
# Hand-worked values on tiny light curves
# --------------------------------------------------------------------------- #
def test_weighted_mean_by_hand():
    # weights 1, 1, 1/4, 1/4: (1 + 2 + 3/4 + 4/4) / 2.5
    t, m, e = arrays([1, 2, 3, 4], err=[1, 1, 2, 2])
    assert ft.weighted_mean(t, m, e) == pytest.approx((1 + 2 + 0.75 + 1.0) / 2.5)


def test_median_and_standard_deviation_by_hand():
    # mean 2.5, squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5, over N - 1 = 3
    t, m, e = arrays([1, 2, 3, 4])
    assert ft.median(t, m, e) == pytest.approx(2.5)
    assert ft.standard_deviation(t, m, e) == pytest.approx(math.sqrt(5 / 3))


def test_skewness_and_kurtosis_by_hand():
    # m = 0, 0, 0, 3: mean 0.75, s² = 6.75 / 3 = 2.25, z = -0.5 (x3), 1.5
    # Σz³ = -3·0.125 + 3.375 = 3;  G1 = 4 / (3·2) · 3 = 2
    # Σz⁴ = 3·0.0625 + 5.0625 = 5.25;  G2 = 4·5 / (3·2·1) · 5.25 - 3·9 / (2·1) = 4
    t, m, e = arrays([0, 0, 0, 3])
    assert ft.skewness(t, m, e) == pytest.approx(2.0)
    assert ft.kurtosis(t, m, e) == pytest.approx(4.0)


def test_median_absolute_deviation_by_hand():
    # median 3, |deviations| 2, 1, 0, 1, 7 -> median 1
    t, m, e = arrays([1, 2, 3, 4, 10])
    assert ft.median_absolute_deviation(t, m, e) == pytest.approx(1.0)


def test_robust_amplitude_by_hand():
    # Hazen rank h = N p + 1/2 (1-based): p = 0.25 -> 1.75 -> 1.75; 0.75 -> 4.25
    # p = 0.05 -> 0.75, clamped to the minimum 1; 0.95 -> 5.25, clamped to 5
    t, m, e = arrays([1, 2, 3, 4, 5])
    assert ft.robust_amplitude(t, m, e, percentile=25) == pytest.approx(
        (4.25 - 1.75) / 2
    )
    assert ft.robust_amplitude(t, m, e) == pytest.approx((5 - 1) / 2)


def test_median_buffer_range_percentage_by_hand():
    # median 1.05, half range 1, band ±0.1: only 1.0 and 1.05 fall inside
    t, m, e = arrays([0, 1, 1.05, 1.5, 2])
    assert ft.median_buffer_range_percentage(t, m, e) == pytest.approx(2 / 5)


def test_stetson_k_by_hand():
    # unit errors, m = 0, 0, 0, 3: residuals -0.75 (x3), 2.25
    # mean |r| = 4.5 / 4 = 1.125, rms = sqrt(6.75 / 4); the sqrt(N/(N-1)) cancels
    t, m, e = arrays([0, 0, 0, 3])
    assert ft.stetson_k(t, m, e) == pytest.approx(1.125 / math.sqrt(6.75 / 4))
    assert ft.stetson_k(t, m, e) == pytest.approx(math.sqrt(3) / 2)


def test_von_neumann_eta_by_hand():
    # successive differences 1, 1, 1; (N - 1) s² = 3 · 5/3 = 5
    t, m, e = arrays([1, 2, 3, 4])
    assert ft.von_neumann_eta(t, m, e) == pytest.approx(3 / 5)


def test_eta_e_by_hand():
    # times 0, 1, 3, 4: rates 1, 0.5, 1, Σ rate² = 2.25; span 4; (N-1)³ = 27
    t, m, e = arrays([1, 2, 3, 4], time=[0, 1, 3, 4])
    assert ft.eta_e(t, m, e) == pytest.approx(16 * 2.25 / (27 * 5 / 3))


def test_eta_e_equals_eta_for_even_sampling():
    t, m, e = arrays([1.0, 3.0, 2.0, 5.0, 4.0], time=[0, 2, 4, 6, 8])
    assert ft.eta_e(t, m, e) == pytest.approx(ft.von_neumann_eta(t, m, e))


def test_maximum_slope_by_hand():
    # rates 1/1, 1/2, 3/1
    t, m, e = arrays([1, 2, 3, 6], time=[0, 1, 3, 4])
    assert ft.maximum_slope(t, m, e) == pytest.approx(3.0)


def test_mean_by_hand():
    t, m, e = arrays([1, 2, 3, 4])
    assert ft.mean(t, m, e) == pytest.approx(2.5)


def test_weighted_std_by_hand():
    # w = 1, 1, 1/4, 1/4; V1 = 2.5, V2 = 2.125; weighted mean 1.9
    # Σ w (m - 1.9)² = 0.81 + 0.01 + 1.21/4 + 4.41/4 = 2.225; V1 - V2/V1 = 1.65
    t, m, e = arrays([1, 2, 3, 4], err=[1, 1, 2, 2])
    assert ft.weighted_std(t, m, e) == pytest.approx(math.sqrt(2.225 / 1.65))


def test_weighted_std_with_equal_errors_is_the_sample_std():
    t, m, e = arrays([1.0, 4.0, 2.0, 8.0, 5.0], err=[0.3] * 5)
    assert ft.weighted_std(t, m, e) == pytest.approx(ft.standard_deviation(t, m, e))


def test_weighted_skewness_and_kurtosis_by_hand():
    # m = 0, 0, 0, 3, equal errors: deviations -0.75 (x3), 2.25
    # μ2 = 6.75 / 4 = 1.6875; μ3 = (-3·0.421875 + 11.390625) / 4 = 2.53125
    # μ4 = (3·0.31640625 + 25.62890625) / 4 = 6.64453125
    t, m, e = arrays([0, 0, 0, 3])
    assert ft.weighted_skewness(t, m, e) == pytest.approx(2.53125 / 1.6875**1.5)
    assert ft.weighted_kurtosis(t, m, e) == pytest.approx(6.64453125 / 1.6875**2 - 3)


def test_weighted_skewness_relates_to_skewness():
    # documented: G1 = g1 · sqrt(N (N - 1)) / (N - 2) for equal errors
    t, m, e = arrays([0.1, 0.5, 0.2, 1.7, 0.4, 0.3])
    n = 6
    g1 = ft.weighted_skewness(t, m, e)
    assert ft.skewness(t, m, e) == pytest.approx(g1 * math.sqrt(n * (n - 1)) / (n - 2))


def test_amplitudes_by_hand():
    # range 1..10: half range 4.5; median 3, farthest point 10 - 3 = 7
    t, m, e = arrays([1, 2, 3, 4, 10])
    assert ft.amplitude(t, m, e) == pytest.approx(4.5)
    assert ft.percent_amplitude(t, m, e) == pytest.approx(7.0)


def test_flux_asymmetry_by_hand():
    # nine 0s and one 1: 10th percentile 0, 90th 0.1 -> every point is extreme
    # mean of extremes 0.1, median 0, s = sqrt(0.9 / 9)
    t, m, e = arrays([0] * 9 + [1])
    assert ft.flux_asymmetry(t, m, e) == pytest.approx(0.1 / math.sqrt(0.9 / 9))


def test_cusum_by_hand():
    # deviations -1.5, -0.5, 0.5, 1.5 -> partial sums -1.5, -2, -1.5, 0
    t, m, e = arrays([1, 2, 3, 4])
    assert ft.cusum(t, m, e) == pytest.approx(2 / (4 * math.sqrt(5 / 3)))


def test_mean_variance_and_excess_variance_by_hand():
    # s² = 5/3, mean 2.5, mean squared error 1
    t, m, e = arrays([1, 2, 3, 4])
    assert ft.mean_variance(t, m, e) == pytest.approx(math.sqrt(5 / 3) / 2.5)
    assert ft.excess_variance(t, m, e) == pytest.approx((5 / 3 - 1) / 2.5**2)


def test_roms_by_hand():
    # median 3; |m - 3| / σ = 2, 1, 0, 1, 7/2 -> 7.5 / (N - 1)
    t, m, e = arrays([1, 2, 3, 4, 10], err=[1, 1, 1, 1, 2])
    assert ft.roms(t, m, e) == pytest.approx(7.5 / 4)


def test_peak_to_peak_variability_by_hand():
    # m - σ = 9.5, 10.5, 11 -> max 11; m + σ = 10.5, 11.5, 13 -> min 10.5
    t, m, e = arrays([10, 11, 12], err=[0.5, 0.5, 1])
    assert ft.peak_to_peak_variability(t, m, e) == pytest.approx(0.5 / 21.5)


def test_autocorrelation_lag1_by_hand():
    # deviations -1.5, -0.5, 0.5, 1.5: products 0.75 - 0.25 + 0.75; Σ dev² = 5
    t, m, e = arrays([1, 2, 3, 4])
    assert ft.autocorrelation_lag1(t, m, e) == pytest.approx(1.25 / 5)


def test_anderson_darling_by_hand():
    # sorted z = -0.5, -0.5, -0.5, 1.5 for m = 0, 0, 0, 3
    def cdf(z):
        return 0.5 * (1 + math.erf(z / math.sqrt(2)))

    lo, hi = cdf(-0.5), cdf(1.5)
    total = (
        1 * (math.log(lo) + math.log(1 - hi))
        + 3 * (math.log(lo) + math.log(1 - lo))
        + 5 * (math.log(lo) + math.log(1 - lo))
        + 7 * (math.log(hi) + math.log(1 - lo))
    )
    expected = (-4 - total / 4) * (1 + 4 / 4 - 25 / 16)
    t, m, e = arrays([0, 0, 0, 3])
    assert ft.anderson_darling(t, m, e) == pytest.approx(expected)


def test_fourier_decomposition_of_an_exact_harmonic_series():
    # m = 10 + 0.5 sin(ωt + 0.3) + 0.2 sin(2ωt + 1.0) + 0.1 sin(3ωt + 2.0)
    # R21 = 0.2 / 0.5, R31 = 0.1 / 0.5, φ21 = 1.0 - 2·0.3, φ31 = 2.0 - 3·0.3
    t = np.linspace(0.0, 9.3, 25)
    w = 2 * np.pi / 1.7
    m = (
        10
        + 0.5 * np.sin(w * t + 0.3)
        + 0.2 * np.sin(2 * w * t + 1.0)
        + 0.1 * np.sin(3 * w * t + 2.0)
    )
    shape = ft.fourier_decomposition(t, m, np.full(t.size, 0.01), 1.7)
    assert shape["fourier_r21"] == pytest.approx(0.4)
    assert shape["fourier_r31"] == pytest.approx(0.2)
    assert shape["fourier_phi21"] == pytest.approx(0.4)
    assert shape["fourier_phi31"] == pytest.approx(1.1)


def test_fourier_decomposition_without_period_is_nan():
    t, m, e = sinusoid()
    shape = ft.fourier_decomposition(t, m, e, np.nan)
    assert all(np.isnan(v) for v in shape.values())


def test_galactic_coordinates_of_the_pole_and_the_centre():
    # ICRS position of the north galactic pole: 192.85948°, +27.12825°
    l_deg, b_deg = ft.galactic_coordinates([192.85948], [27.12825])
    assert b_deg[0] == pytest.approx(90.0, abs=1e-3)
    # Sgr A*: ICRS 266.41683°, -29.00781° lies at l = 359.944°, b = -0.046°
    l_deg, b_deg = ft.galactic_coordinates([266.41683], [-29.00781])
    assert l_deg[0] == pytest.approx(359.944, abs=1e-3)
    assert b_deg[0] == pytest.approx(-0.046, abs=1e-3)


# --------------------------------------------------------------------------- #
# The extractor
# --------------------------------------------------------------------------- #
def tidy(stars: dict[str, dict[str, tuple]]) -> pd.DataFrame:
    """Tidy table from {star: {band: (time, mag, err)}}."""
    parts = []
    for star, per_band in stars.items():
        for band, (t, m, e) in per_band.items():
            parts.append(
                pd.DataFrame(
                    {
                        "source_id": star,
                        "band": band,
                        "time": np.asarray(t, float),
                        "mag": np.asarray(m, float),
                        "mag_err": np.asarray(e, float),
                        "flags": np.zeros(len(t), dtype="int32"),
                    }
                )
            )
    return pd.concat(parts, ignore_index=True)


def sinusoid(n=60, period=0.7, amplitude=0.3, level=15.0, seed=1):
    """A noisy sinusoid sampled at random times over 200 days."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, 200, n))
    m = level + amplitude * np.sin(2 * np.pi * t / period) + rng.normal(0, 0.02, n)
    return t, m, np.full(n, 0.02)


PARAMS = {"min_points": 20, "period": {"min_days": 0.2, "max_days": 100.0}}


def test_extract_features_columns_values_and_colour():
    table = tidy({"a": {"B": sinusoid(level=16.0), "R": sinusoid(seed=2)}})
    out = ft.extract_features(table, {**PARAMS, "bands": ["B", "R"]})
    assert list(out.columns) == ft.output_columns(["B", "R"])
    assert out["source_id"].tolist() == ["a"]
    row = out.iloc[0]
    assert row["reason"] == ""
    assert row["color_B_R"] == pytest.approx(row["median_B"] - row["median_R"])
    assert row["period_B"] == pytest.approx(0.7, rel=1e-3)
    t, m, e = sinusoid(seed=2)
    assert row["stetson_k_R"] == pytest.approx(ft.stetson_k(t, m, e))
    text = ["source_id", "period_method", "period_flags", "reason"]
    assert all(out[c].dtype == "float64" for c in out.columns if c not in text)
    assert all(out[c].map(type).eq(str).all() for c in text)


def test_missing_band_and_too_few_points_give_nan_with_reason():
    t, m, e = sinusoid()
    table = tidy(
        {"a": {"B": (t[:3], m[:3], e[:3]), "R": (t, m, e)}, "b": {"R": (t, m, e)}}
    )
    out = ft.extract_features(table, {**PARAMS, "bands": ["B", "R"]}).set_index(
        "source_id"
    )
    assert out.loc["a", "reason"] == "B: 3 points < min_points 20"
    assert out.loc["b", "reason"] == "B: no observations"
    assert np.isnan(out.loc["a", "stetson_k_B"])
    assert np.isnan(out.loc["b", "color_B_R"])
    assert out.loc["b", "stetson_k_R"] == pytest.approx(ft.stetson_k(t, m, e))


def test_shards_share_columns():
    one = ft.extract_features(tidy({"a": {"R": sinusoid()}}), {"bands": ["B", "R"]})
    two = ft.extract_features(tidy({"b": {"B": sinusoid()}}), {"bands": ["B", "R"]})
    assert list(one.columns) == list(two.columns)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            lambda t, m, e: (t, np.where(np.arange(m.size) == 3, np.nan, m), e),
            "non-finite time or magnitude",
        ),
        (
            lambda t, m, e: (t, np.where(np.arange(m.size) == 3, np.inf, m), e),
            "non-finite time or magnitude",
        ),
        (
            lambda t, m, e: (t, m, np.where(np.arange(m.size) == 3, np.nan, e)),
            "non-finite magnitude error",
        ),
        (
            lambda t, m, e: (t, m, np.where(np.arange(m.size) == 3, 0.0, e)),
            "magnitude error not positive",
        ),
        (lambda t, m, e: (t, m, -e), "magnitude error not positive"),
        (
            lambda t, m, e: (np.where(np.arange(t.size) == 3, t[4], t), m, e),
            "repeated times",
        ),
        (lambda t, m, e: (t[::-1].copy(), m, e), "times not sorted"),
        (lambda t, m, e: (t, np.full_like(m, 17.0), e), "all magnitudes equal"),
    ],
)
def test_bad_input_gives_nan_with_reason(change, reason):
    t, m, e = change(*sinusoid())
    table = tidy({"a": {"R": (t, m, e)}})
    out = ft.extract_features(table, {"bands": ["R"]})
    assert out.loc[0, "reason"] == f"R: {reason}"
    assert out.loc[0, "period_method"] == ""
    numbers = out.drop(columns=["source_id", "period_method", "period_flags", "reason"])
    assert numbers.isna().all(axis=None)


def test_flagged_rows_are_ignored():
    table = tidy({"a": {"R": sinusoid()}})
    table.loc[3, "mag"] = np.nan
    table.loc[3, "flags"] = 1
    out = ft.extract_features(table, {"bands": ["R"]})
    assert out.loc[0, "reason"] == ""
    assert np.isfinite(out.loc[0, "stetson_k_R"])


def test_positions_add_galactic_coordinates():
    table = tidy({"a": {"R": sinusoid()}, "b": {"R": sinusoid(seed=4)}})
    positions = pd.DataFrame({"source_id": ["a"], "ra": [192.85948], "dec": [27.12825]})
    out = ft.extract_features(table, {"bands": ["R"]}, positions=positions)
    assert out.loc[0, "galactic_b"] == pytest.approx(90.0, abs=1e-3)
    assert np.isnan(out.loc[1, "galactic_b"])


def test_star_period_columns():
    table = tidy({"a": {"B": sinusoid(seed=5), "R": sinusoid(seed=6)}})
    out = ft.extract_features(table, {**PARAMS, "bands": ["B", "R"]})
    assert out.loc[0, "period"] == pytest.approx(0.7, rel=1e-3)
    assert out.loc[0, "period_method"] == "lomb_scargle"
    assert out.loc[0, "period_fap"] < 1e-10
    assert out.loc[0, "fourier_r21_R"] < 0.2  # a pure sinusoid has no harmonics


# --------------------------------------------------------------------------- #
# Agreement with the light_curve package on real light curves
# --------------------------------------------------------------------------- #
EROS = DATA / "eros1"
CRTS = DATA / "crts"


def eros_curves(n_stars: int = 60) -> list[tuple[np.ndarray, ...]]:
    """The first EROS-1 light curves, cleaned as the survey README asks."""
    path = EROS / "train_varlength_features.csv.gz"
    if not path.exists():
        pytest.skip(f"EROS-1 light curves not found at {path}")
    table = pd.read_csv(path, index_col=0, nrows=n_stars)
    curves = []
    for _, row in table.iterrows():
        for band in "br":
            t, m, e = (
                parse_list_cell(row[f"{kind}_points_{band}"], where=kind)
                for kind in ("time", "light", "error")
            )
            curves.append(clean_curve(t, m, e))
    return curves


def crts_curves() -> list[tuple[np.ndarray, ...]]:
    """All Catalina light curves, one per file."""
    paths = sorted(CRTS.glob("*.csv"))
    if not paths:
        pytest.skip(f"Catalina light curves not found in {CRTS}")
    curves = []
    for path in paths:
        table = pd.read_csv(path)
        curves.append(
            clean_curve(*(table[c].to_numpy() for c in ("MJD", "Mag", "Magerr")))
        )
    return curves


def clean_curve(t, m, e):
    """Drop placeholders and bad errors, sort by time and keep the first of repeats."""
    keep = (m < 24.9) & (e > 0) & (e <= 1)
    t, m, e = t[keep], m[keep], e[keep]
    order = np.argsort(t, kind="stable")
    t, m, e = t[order], m[order], e[order]
    first = np.concatenate([[True], np.diff(t) > 0])
    return t[first], m[first], e[first]


def light_curve_features():
    """varsky feature name -> the light_curve feature that defines the same."""
    lc = pytest.importorskip("light_curve")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "mean": lc.Mean(),
            "median": lc.Median(),
            "std": lc.StandardDeviation(),
            "skewness": lc.Skew(),
            "kurtosis": lc.Kurtosis(),
            "weighted_mean": lc.WeightedMean(),
            "median_absolute_deviation": lc.MedianAbsoluteDeviation(),
            "amplitude": lc.Amplitude(),
            "percent_amplitude": lc.PercentAmplitude(),
            "cusum": lc.Cusum(),
            "mean_variance": lc.MeanVariance(),
            "roms": lc.Roms(),
            "peak_to_peak_variability": lc.PeakToPeakVar(),
            "anderson_darling": lc.AndersonDarlingNormal(),
            "excess_variance": lc.ExcessVariance(),
            "stetson_k": lc.StetsonK(),
            "von_neumann_eta": lc.Eta(),
            "eta_e": lc.EtaE(),
            "maximum_slope": lc.MaximumSlope(),
        }


def reference_value(feature, t, m, e) -> float:
    return float(np.atleast_1d(feature(t, m, e))[0])


@pytest.mark.parametrize("survey", ["eros1", "crts"])
def test_features_match_light_curve(survey):
    """Same definitions, same values to 1e-9 relative (1e-12 absolute near 0)."""
    curves = eros_curves() if survey == "eros1" else crts_curves()
    for name, feature in light_curve_features().items():
        ours = [ft.FEATURES[name](t, m, e) for t, m, e in curves]
        theirs = [reference_value(feature, t, m, e) for t, m, e in curves]
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("survey", ["eros1", "crts"])
def test_robust_amplitude_is_half_the_inter_percentile_range(survey):
    lc = pytest.importorskip("light_curve")
    curves = eros_curves() if survey == "eros1" else crts_curves()
    spread = lc.InterPercentileRange(quantile=0.05)
    ours = [2 * ft.robust_amplitude(t, m, e) for t, m, e in curves]
    theirs = [reference_value(spread, t, m, e) for t, m, e in curves]
    # light_curve's percentiles carry a few 1e-6 mag of rounding
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5)


@pytest.mark.parametrize("survey", ["eros1", "crts"])
def test_median_buffer_range_percentage_matches_light_curve(survey):
    """Equal up to points lying on the edge of the band.

    Magnitudes rounded to 0.01 mag (EROS-1) put points exactly on the edge
    ``median ± q·range/2``, where the last bit of rounding decides; the two
    fractions then differ by at most 3 points in N.
    """
    lc = pytest.importorskip("light_curve")
    curves = eros_curves() if survey == "eros1" else crts_curves()
    feature = lc.MedianBufferRangePercentage(quantile=0.1)
    for t, m, e in curves:
        ours = ft.median_buffer_range_percentage(t, m, e, fraction=0.1)
        assert abs(ours - reference_value(feature, t, m, e)) <= 3 / m.size + 1e-12


@pytest.mark.parametrize("survey", ["eros1", "crts"])
def test_batch_features_equal_the_single_curve_functions(survey):
    """The vectorised extractor computes exactly the documented functions."""
    curves = eros_curves() if survey == "eros1" else crts_curves()
    params = ft.feature_params({})
    segments = ft.Segments(
        np.concatenate([t for t, _, _ in curves]),
        np.concatenate([m for _, m, _ in curves]),
        np.concatenate([e for _, _, e in curves]),
        np.cumsum([0] + [t.size for t, _, _ in curves[:-1]]),
    )
    batch = ft.batch_features(segments, params)
    for i, (t, m, e) in enumerate(curves):
        single = ft.band_features(t, m, e, params)
        for name, value in single.items():
            assert batch[name][i] == pytest.approx(value, rel=1e-9, abs=1e-12), name


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"min_points": 2}, "features.min_points = 2"),
        ({"period": {"min_days": 5.0, "max_days": 1.0}}, "features.period.max_days"),
        ({"period": {"search": "everything"}}, "features.period.search"),
        ({"fourier_harmonics": 2}, "features.fourier_harmonics"),
    ],
)
def test_bad_params_name_the_key(params, message):
    with pytest.raises(ValueError, match=message):
        ft.feature_params(params)


def test_empty_shard_gives_the_columns():
    empty = tidy({"a": {"R": sinusoid()}}).iloc[:0]
    out = ft.extract_features(empty, {"bands": ["B", "R"]})
    assert list(out.columns) == ft.output_columns(["B", "R"]) and out.empty


def test_batch_features_with_very_uneven_lengths():
    """One long curve among short ones takes the other sorting path."""
    curves = [sinusoid(n=2000, seed=1)] + [sinusoid(n=20, seed=s) for s in range(2, 12)]
    segments = ft.Segments(
        np.concatenate([t for t, _, _ in curves]),
        np.concatenate([m for _, m, _ in curves]),
        np.concatenate([e for _, _, e in curves]),
        np.cumsum([0] + [t.size for t, _, _ in curves[:-1]]),
    )
    params = ft.feature_params({})
    batch = ft.batch_features(segments, params)
    for i, (t, m, e) in enumerate(curves):
        for name, value in ft.band_features(t, m, e, params).items():
            assert batch[name][i] == pytest.approx(value, rel=1e-9, abs=1e-12), name
