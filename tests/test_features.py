"""Tests of varsky.features: hand-worked values, the extractor, bad input."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from varsky import features as ft

DATA = __import__("pathlib").Path(__file__).parents[1] / ".." / "shared" / "data"


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
    # 5th percentile at position 0.05·4 = 0.2 -> 1.2; 95th at 3.8 -> 4.8
    t, m, e = arrays([1, 2, 3, 4, 5])
    assert ft.robust_amplitude(t, m, e) == pytest.approx((4.8 - 1.2) / 2)
    assert ft.robust_amplitude(t, m, e, percentile=25) == pytest.approx((4 - 2) / 2)


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
    assert all(out[c].dtype == "float64" for c in out.columns[1:-1])


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
    assert out.drop(columns=["source_id", "reason"]).isna().all(axis=None)


def test_flagged_rows_are_ignored():
    table = tidy({"a": {"R": sinusoid()}})
    table.loc[3, "mag"] = np.nan
    table.loc[3, "flags"] = 1
    out = ft.extract_features(table, {"bands": ["R"]})
    assert out.loc[0, "reason"] == ""
    assert np.isfinite(out.loc[0, "stetson_k_R"])
