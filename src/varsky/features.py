"""Variability features of multi-band light curves.

Each feature is one function ``f(time, mag, mag_err) -> float`` of a single
band's light curve (times in days, sorted and distinct; magnitudes; positive
1-sigma magnitude errors), listed by name in :data:`FEATURES`.
:func:`extract_features` applies them to every star and band of a tidy
light-curve table and adds the period search and the colours between bands.

Notation in the docstrings: ``N`` points ``m_i`` with errors ``σ_i`` at times
``t_i``; ``m̄`` the arithmetic mean; ``s² = Σ (m_i − m̄)² / (N − 1)`` the
sample variance; ``w_i = 1 / σ_i²``; ``m̄_w = Σ w_i m_i / Σ w_i`` the
error-weighted mean.

Most definitions follow the feature sets of Richards et al. (2011, ApJ 733,
10, doi:10.1088/0004-637X/733/1/10), Kim et al. (2014, A&A 566, A43,
doi:10.1051/0004-6361/201323252) and Nun et al. (2015, arXiv:1506.00010); each
docstring names its own source.
"""

from __future__ import annotations

import logging
import time as clock
from collections.abc import Callable
from itertools import pairwise

import numpy as np
import pandas as pd

from varsky import period as period_search

log = logging.getLogger(__name__)

DEFAULT_PARAMS = {
    "min_points": 20,
    "buffer_range_fraction": 0.1,
    "amplitude_percentile": 5.0,
}


# --------------------------------------------------------------------------- #
# Moments
# --------------------------------------------------------------------------- #
def weighted_mean(time: np.ndarray, mag: np.ndarray, mag_err: np.ndarray) -> float:
    """Error-weighted mean magnitude.

    ``m̄_w = Σ w_i m_i / Σ w_i`` with ``w_i = 1 / σ_i²``, the maximum-likelihood
    constant for Gaussian errors (e.g. Bevington & Robinson 2003, *Data
    Reduction and Error Analysis*, eq. 4.17).
    """
    weights = 1.0 / mag_err**2
    return float(np.sum(weights * mag) / np.sum(weights))


def median(time: np.ndarray, mag: np.ndarray, mag_err: np.ndarray) -> float:
    """Median magnitude, the robust brightness level used for the colours."""
    return float(np.median(mag))


def standard_deviation(time: np.ndarray, mag: np.ndarray, mag_err: np.ndarray) -> float:
    """Unbiased sample standard deviation of the magnitudes.

    ``s = sqrt(Σ (m_i − m̄)² / (N − 1))`` (Richards et al. 2011, table 1 "std").
    """
    return float(np.std(mag, ddof=1))


def skewness(time: np.ndarray, mag: np.ndarray, mag_err: np.ndarray) -> float:
    """Bias-corrected sample skewness of the magnitudes.

    ``G1 = N / ((N − 1)(N − 2)) Σ ((m_i − m̄) / s)³`` (Joanes & Gill 1998, The
    Statistician 47, 183, doi:10.1111/1467-9884.00122; Richards et al. 2011
    "skew"). Positive for light curves with dips to faint magnitudes, such as
    eclipsing binaries.
    """
    n = mag.size
    z = (mag - mag.mean()) / np.std(mag, ddof=1)
    return float(n / ((n - 1) * (n - 2)) * np.sum(z**3))


def kurtosis(time: np.ndarray, mag: np.ndarray, mag_err: np.ndarray) -> float:
    """Bias-corrected sample excess kurtosis of the magnitudes.

    ``G2 = N(N + 1) / ((N − 1)(N − 2)(N − 3)) Σ ((m_i − m̄) / s)⁴
    − 3 (N − 1)² / ((N − 2)(N − 3))`` (Joanes & Gill 1998,
    doi:10.1111/1467-9884.00122; Richards et al. 2011 "small_kurtosis"); zero
    for a Gaussian, −1.5 for a pure sinusoid.
    """
    n = mag.size
    z = (mag - mag.mean()) / np.std(mag, ddof=1)
    scale = n * (n + 1) / ((n - 1) * (n - 2) * (n - 3))
    return float(scale * np.sum(z**4) - 3 * (n - 1) ** 2 / ((n - 2) * (n - 3)))


# --------------------------------------------------------------------------- #
# Robust spread and amplitude
# --------------------------------------------------------------------------- #
def median_absolute_deviation(
    time: np.ndarray, mag: np.ndarray, mag_err: np.ndarray
) -> float:
    """Median absolute deviation from the median, unscaled.

    ``MAD = median_i |m_i − median(m)|`` (Richards et al. 2011,
    "median_absolute_deviation"); multiply by 1.4826 for a Gaussian σ.
    """
    return float(np.median(np.abs(mag - np.median(mag))))


def robust_amplitude(
    time: np.ndarray, mag: np.ndarray, mag_err: np.ndarray, percentile: float = 5.0
) -> float:
    """Half the range between the ``p``-th and ``(100 − p)``-th percentiles.

    ``A_p = (Q(100 − p) − Q(p)) / 2`` with linearly interpolated percentiles
    ``Q`` (default ``p = 5``): the semi-amplitude of the light curve, robust to
    a few outliers, unlike ``(max − min) / 2`` (Richards et al. 2011,
    "amplitude", use percentiles in the same spirit).
    """
    low, high = np.percentile(mag, [percentile, 100.0 - percentile])
    return float((high - low) / 2.0)


def median_buffer_range_percentage(
    time: np.ndarray, mag: np.ndarray, mag_err: np.ndarray, fraction: float = 0.1
) -> float:
    """Fraction of points within a band around the median.

    ``(1/N) #{i : |m_i − median(m)| < q (max(m) − min(m)) / 2}``, with
    ``q = fraction`` (default 0.1; Richards et al. 2011,
    "median_buffer_range_percentage").
    """
    half_range = (mag.max() - mag.min()) / 2.0
    inside = np.abs(mag - np.median(mag)) < fraction * half_range
    return float(np.mean(inside))


# --------------------------------------------------------------------------- #
# Variability indices
# --------------------------------------------------------------------------- #
def stetson_k(time: np.ndarray, mag: np.ndarray, mag_err: np.ndarray) -> float:
    """Stetson's kurtosis-like index K.

    With normalised residuals ``δ_i = sqrt(N / (N − 1)) (m_i − m̄_w) / σ_i``,
    ``K = (1/N) Σ |δ_i| / sqrt((1/N) Σ δ_i²)`` (Stetson 1996, PASP 108, 851,
    doi:10.1086/133808, eq. 3). ``sqrt(2/π) ≈ 0.798`` for Gaussian noise,
    ``2 sqrt(2) / π ≈ 0.900`` for a sinusoid, small for rare outliers.
    """
    residual = (mag - weighted_mean(time, mag, mag_err)) / mag_err
    delta = np.sqrt(mag.size / (mag.size - 1.0)) * residual
    return float(np.mean(np.abs(delta)) / np.sqrt(np.mean(delta**2)))


def von_neumann_eta(time: np.ndarray, mag: np.ndarray, mag_err: np.ndarray) -> float:
    """Von Neumann ratio of successive differences to the variance.

    ``η = Σ_{i<N} (m_{i+1} − m_i)² / ((N − 1) s²)`` (von Neumann 1941, Ann.
    Math. Stat. 12, 367, doi:10.1214/aoms/1177731677; Kim et al. 2014). About 2
    for uncorrelated noise, small for light curves smooth on the sampling
    time scale.
    """
    return float(np.sum(np.diff(mag) ** 2) / ((mag.size - 1) * np.var(mag, ddof=1)))


def eta_e(time: np.ndarray, mag: np.ndarray, mag_err: np.ndarray) -> float:
    """Von Neumann ratio for uneven sampling.

    ``η_e = (t_N − t_1)² / (N − 1)³ · Σ_{i<N} ((m_{i+1} − m_i) / (t_{i+1} − t_i))²
    / s²``. This is the index of Kim et al. (2014, A&A 566, A43,
    doi:10.1051/0004-6361/201323252, eq. 4) divided by ``(N − 1)²``, so that for
    evenly spaced times it equals :func:`von_neumann_eta`; the ``light_curve``
    package uses the same normalisation.
    """
    n = mag.size
    rate = np.diff(mag) / np.diff(time)
    span = time[-1] - time[0]
    return float(span**2 * np.sum(rate**2) / ((n - 1) ** 3 * np.var(mag, ddof=1)))


def maximum_slope(time: np.ndarray, mag: np.ndarray, mag_err: np.ndarray) -> float:
    """Largest absolute rate of change between consecutive points (mag/day).

    ``max_i |(m_{i+1} − m_i) / (t_{i+1} − t_i)|`` (Richards et al. 2011,
    "max_slope").
    """
    return float(np.max(np.abs(np.diff(mag) / np.diff(time))))


# --------------------------------------------------------------------------- #
# The feature table
# --------------------------------------------------------------------------- #
FEATURES: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], float]] = {
    "median": median,
    "weighted_mean": weighted_mean,
    "std": standard_deviation,
    "skewness": skewness,
    "kurtosis": kurtosis,
    "median_absolute_deviation": median_absolute_deviation,
    "robust_amplitude": robust_amplitude,
    "median_buffer_range_percentage": median_buffer_range_percentage,
    "stetson_k": stetson_k,
    "von_neumann_eta": von_neumann_eta,
    "eta_e": eta_e,
    "maximum_slope": maximum_slope,
}
"""Per-band features that need no period search, by output name."""

PERIOD_FEATURES = ["period", "period_power"]
"""Per-band outputs of the period search."""


def feature_params(params: dict | None) -> dict:
    """The feature parameters with defaults filled in."""
    merged = dict(DEFAULT_PARAMS)
    merged.update({k: v for k, v in (params or {}).items() if k != "period"})
    merged["period"] = period_search.period_params(params)
    return merged


def band_problem(
    time: np.ndarray, mag: np.ndarray, mag_err: np.ndarray, min_points: int
) -> str:
    """Why a band's light curve cannot give features, or ``""`` if it can.

    Checked in order: too few points, non-finite values, errors not positive,
    times not increasing (unsorted or repeated), all magnitudes equal.
    """
    if mag.size < min_points:
        return f"{mag.size} points < min_points {min_points}"
    if not (np.all(np.isfinite(time)) and np.all(np.isfinite(mag))):
        return "non-finite time or magnitude"
    if not np.all(np.isfinite(mag_err)):
        return "non-finite magnitude error"
    if np.any(mag_err <= 0):
        return "magnitude error not positive"
    steps = np.diff(time)
    if np.any(steps < 0):
        return "times not sorted"
    if np.any(steps == 0):
        return "repeated times"
    if np.all(mag == mag[0]):
        return "all magnitudes equal"
    return ""


def band_features(
    time: np.ndarray, mag: np.ndarray, mag_err: np.ndarray, params: dict
) -> dict[str, float]:
    """All per-band features of one valid light curve (see :func:`band_problem`)."""
    options = {
        "robust_amplitude": {"percentile": params["amplitude_percentile"]},
        "median_buffer_range_percentage": {"fraction": params["buffer_range_fraction"]},
    }
    values = {
        name: func(time, mag, mag_err, **options.get(name, {}))
        for name, func in FEATURES.items()
    }

    best_period, power = period_search.best_lomb_scargle_period(
        time, mag, mag_err, params["period"]
    )
    values["period"] = best_period
    values["period_power"] = power
    return values


def band_order(lightcurves: pd.DataFrame, params: dict) -> list[str]:
    """Bands in the order of ``params["bands"]`` if given, else sorted."""
    if params.get("bands"):
        return [str(b) for b in params["bands"]]
    return sorted(pd.unique(lightcurves["band"].astype(str)))


def output_columns(bands: list[str]) -> list[str]:
    """Column names of the feature table for the given band order."""
    per_band = [*FEATURES, *PERIOD_FEATURES]
    columns = ["source_id"]
    columns += [f"{name}_{band}" for band in bands for name in per_band]
    columns += [f"color_{b1}_{b2}" for b1, b2 in pairwise(bands)]
    return [*columns, "reason"]


def _group_bounds(lightcurves: pd.DataFrame) -> tuple[np.ndarray, ...]:
    """Row order and start/stop of each (star, band) run, keeping time order."""
    star_code, stars = pd.factorize(lightcurves["source_id"].astype(str), sort=False)
    band_code, bands = pd.factorize(lightcurves["band"].astype(str), sort=False)
    order = np.lexsort((band_code, star_code))
    star_sorted, band_sorted = star_code[order], band_code[order]
    change = np.flatnonzero((np.diff(star_sorted) != 0) | (np.diff(band_sorted) != 0))
    starts = np.concatenate([[0], change + 1])
    stops = np.concatenate([change + 1, [order.size]])
    return (
        order,
        starts,
        stops,
        np.asarray(stars)[star_sorted[starts]],
        np.asarray(bands)[band_sorted[starts]],
    )


def extract_features(lightcurves: pd.DataFrame, params: dict) -> pd.DataFrame:
    """Feature table of one shard of tidy light curves, one row per star.

    Parameters
    ----------
    lightcurves : pandas.DataFrame
        Columns ``source_id``, ``band``, ``time``, ``mag``, ``mag_err``,
        ``flags``; only rows with ``flags == 0`` are used.
    params : dict
        The ``features`` section of the config (see :data:`DEFAULT_PARAMS`
        and :data:`varsky.period.DEFAULT_PERIOD_PARAMS`).

    Returns
    -------
    pandas.DataFrame
        ``source_id``; float64 ``<feature>_<band>`` for every name in
        :data:`FEATURES` and :data:`PERIOD_FEATURES`; ``color_<b1>_<b2>`` =
        ``median_<b1> − median_<b2>`` for consecutive bands; ``reason`` (empty,
        or why some values are NaN). A band a star lacks gives NaN.
    """
    started = clock.perf_counter()
    params = feature_params(params)
    bands = band_order(lightcurves, params)
    good = lightcurves[lightcurves["flags"] == 0]
    columns = output_columns(bands)

    order, starts, stops, star_of_group, band_of_group = _group_bounds(good)
    time = good["time"].to_numpy(dtype="float64")[order]
    mag = good["mag"].to_numpy(dtype="float64")[order]
    mag_err = good["mag_err"].to_numpy(dtype="float64")[order]

    stars = list(pd.unique(lightcurves["source_id"].astype(str)))
    row_of_star = {star: i for i, star in enumerate(stars)}
    table = np.full((len(stars), len(columns) - 2), np.nan)
    column_index = {name: i - 1 for i, name in enumerate(columns[1:-1], start=1)}
    reasons: list[list[str]] = [[] for _ in stars]
    wanted = set(bands)
    present: list[set[str]] = [set() for _ in stars]

    for start, stop, star, band in zip(
        starts, stops, star_of_group, band_of_group, strict=True
    ):
        if band not in wanted:
            continue
        row = row_of_star[star]
        present[row].add(band)
        t, m, e = time[start:stop], mag[start:stop], mag_err[start:stop]
        problem = band_problem(t, m, e, int(params["min_points"]))
        if problem:
            reasons[row].append(f"{band}: {problem}")
            continue
        for name, value in band_features(t, m, e, params).items():
            table[row, column_index[f"{name}_{band}"]] = value

    for b1, b2 in pairwise(bands):
        table[:, column_index[f"color_{b1}_{b2}"]] = (
            table[:, column_index[f"median_{b1}"]]
            - table[:, column_index[f"median_{b2}"]]
        )

    for row in range(len(stars)):
        missing = [b for b in bands if b not in present[row]]
        if missing:
            reasons[row].insert(0, f"{', '.join(missing)}: no observations")

    result = pd.DataFrame(table, columns=columns[1:-1])
    result.insert(0, "source_id", pd.Series(stars, dtype=str))
    result["reason"] = pd.Series(["; ".join(r) for r in reasons], dtype=str)
    log.info(
        "features: %d stars, %d bands, %d stars with NaN features, %.1f s",
        len(stars),
        len(bands),
        sum(bool(r) for r in reasons),
        clock.perf_counter() - started,
    )
    return result
