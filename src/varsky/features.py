"""Variability features of multi-band light curves.

Each feature is one function ``f(time, mag, mag_err) -> float`` of a single
band's light curve (times in days, sorted and distinct; magnitudes; positive
1-sigma magnitude errors), listed by name in :data:`FEATURES`; these
functions are the definitions. :func:`extract_features` computes the same
values for every star and band of a shard at once (:func:`batch_features`,
vectorised over light curves and tested equal to the functions), adds the
period search of ``varsky.period``, the Fourier shape at the adopted period
and the colours between bands.

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
import zlib
from collections.abc import Callable
from itertools import pairwise

import numpy as np
import pandas as pd
from scipy import special
from scipy.special import log_ndtr

from varsky import period as period_search

log = logging.getLogger(__name__)


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

    ``A_p = (Q(100 − p) − Q(p)) / 2`` (default ``p = 5``): the semi-amplitude
    of the light curve, robust to a few outliers, unlike ``(max − min) / 2``.
    ``Q`` is the piecewise-linear percentile with plotting positions
    ``(i − 1/2) / N`` (Hyndman & Fan 1996, Am. Stat. 50, 361,
    doi:10.1080/00031305.1996.10473566, definition 5), so ``2 A_p`` equals the
    inter-percentile range of the ``light_curve`` package.
    """
    low, high = np.percentile(mag, [percentile, 100.0 - percentile], method="hazen")
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


def mean(time: np.ndarray, mag: np.ndarray, mag_err: np.ndarray) -> float:
    """Arithmetic mean magnitude, ``m̄ = Σ m_i / N``."""
    return float(np.mean(mag))


def _weighted_moment(mag: np.ndarray, mag_err: np.ndarray, order: int) -> float:
    """``Σ w_i (m_i − m̄_w)^k / Σ w_i``, the error-weighted central moment."""
    weights = 1.0 / mag_err**2
    centre = np.sum(weights * mag) / np.sum(weights)
    return float(np.sum(weights * (mag - centre) ** order) / np.sum(weights))


def weighted_std(time: np.ndarray, mag: np.ndarray, mag_err: np.ndarray) -> float:
    """Error-weighted standard deviation with the reliability-weight correction.

    ``s_w² = Σ w_i (m_i − m̄_w)² / (V₁ − V₂ / V₁)``, ``V₁ = Σ w_i``,
    ``V₂ = Σ w_i²``, ``w_i = 1 / σ_i²`` (e.g. Galassi et al., *GNU Scientific
    Library Reference Manual*, "Weighted Samples"); equal errors give
    :func:`standard_deviation`.
    """
    weights = 1.0 / mag_err**2
    v1, v2 = np.sum(weights), np.sum(weights**2)
    centre = np.sum(weights * mag) / v1
    return float(np.sqrt(np.sum(weights * (mag - centre) ** 2) / (v1 - v2 / v1)))


def weighted_skewness(time: np.ndarray, mag: np.ndarray, mag_err: np.ndarray) -> float:
    """Error-weighted moment skewness ``μ₃ / μ₂^{3/2}``.

    ``μ_k = Σ w_i (m_i − m̄_w)^k / Σ w_i`` with ``w_i = 1 / σ_i²``. No
    small-sample correction: equal errors give the moment coefficient ``g1``
    (Joanes & Gill 1998, doi:10.1111/1467-9884.00122), not :func:`skewness`'s
    ``G1 = g1 · sqrt(N (N − 1)) / (N − 2)``.
    """
    second = _weighted_moment(mag, mag_err, 2)
    return float(_weighted_moment(mag, mag_err, 3) / second**1.5)


def weighted_kurtosis(time: np.ndarray, mag: np.ndarray, mag_err: np.ndarray) -> float:
    """Error-weighted moment excess kurtosis ``μ₄ / μ₂² − 3``.

    ``μ_k`` as in :func:`weighted_skewness`; equal errors give the moment
    coefficient ``g2`` of Joanes & Gill (1998), without the small-sample
    correction of :func:`kurtosis`.
    """
    second = _weighted_moment(mag, mag_err, 2)
    return float(_weighted_moment(mag, mag_err, 4) / second**2 - 3.0)


def amplitude(time: np.ndarray, mag: np.ndarray, mag_err: np.ndarray) -> float:
    """Half the full range, ``(max(m) − min(m)) / 2`` (Richards et al. 2011)."""
    return float((mag.max() - mag.min()) / 2.0)


def percent_amplitude(time: np.ndarray, mag: np.ndarray, mag_err: np.ndarray) -> float:
    """Largest deviation from the median, ``max_i |m_i − median(m)|`` (mag).

    Richards et al. (2011) define it on fluxes, divided by the median flux;
    on magnitudes the deviation itself is already relative, as in the
    ``light_curve`` package (D'Isanto et al. 2016, MNRAS 457, 3119,
    doi:10.1093/mnras/stw157).
    """
    centre = np.median(mag)
    return float(max(mag.max() - centre, centre - mag.min()))


def flux_asymmetry(time: np.ndarray, mag: np.ndarray, mag_err: np.ndarray) -> float:
    """Flux asymmetry M (Cody et al. 2014, AJ 147, 82, doi:10.1088/0004-6256/147/4/82).

    ``M = (⟨m_10%⟩ − median(m)) / s``, where ``⟨m_10%⟩`` is the mean of the
    magnitudes at or below the 10th and at or above the 90th percentile and
    ``s`` the standard deviation. In magnitudes, ``M > 0`` for dips (eclipses)
    and ``M < 0`` for bursts. Unlike Cody et al., the light curve is not
    smoothed first.
    """
    low, high = np.percentile(mag, [10.0, 90.0])
    extremes = mag[(mag <= low) | (mag >= high)]
    return float((extremes.mean() - np.median(mag)) / np.std(mag, ddof=1))


def cusum(time: np.ndarray, mag: np.ndarray, mag_err: np.ndarray) -> float:
    """Range of the normalised cumulative sum.

    ``S_l = Σ_{i≤l} (m_i − m̄) / (N s)``, ``R_cs = max_l S_l − min_l S_l``
    (Kim et al. 2014, A&A 566, A43, doi:10.1051/0004-6361/201323252); large
    for trends and long-period variables.
    """
    partial = np.cumsum(mag - mag.mean()) / (mag.size * np.std(mag, ddof=1))
    return float(partial.max() - partial.min())


def mean_variance(time: np.ndarray, mag: np.ndarray, mag_err: np.ndarray) -> float:
    """Ratio of standard deviation to mean, ``s / m̄`` (Kim et al. 2011, ApJ 735, 68)."""
    return float(np.std(mag, ddof=1) / np.mean(mag))


def roms(time: np.ndarray, mag: np.ndarray, mag_err: np.ndarray) -> float:
    """Robust median statistic.

    ``RoMS = Σ |m_i − median(m)| / σ_i / (N − 1)`` (Enoch, Brown & Burgasser
    2003, AJ 126, 1006, doi:10.1086/376598); below about 1 for constant stars.
    """
    return float(np.sum(np.abs(mag - np.median(mag)) / mag_err) / (mag.size - 1))


def peak_to_peak_variability(
    time: np.ndarray, mag: np.ndarray, mag_err: np.ndarray
) -> float:
    """Peak-to-peak variability ``v``, on magnitudes.

    ``v = (max(m − σ) − min(m + σ)) / (max(m − σ) + min(m + σ))`` (Aller,
    Aller & Hughes 1992, ApJ 399, 16, doi:10.1086/171898; applied to
    magnitudes by Sokolovsky et al. 2017, MNRAS 464, 274,
    doi:10.1093/mnras/stw2262). Negative when the spread is within the errors.
    """
    upper = np.max(mag - mag_err)
    lower = np.min(mag + mag_err)
    return float((upper - lower) / (upper + lower))


def autocorrelation_lag1(
    time: np.ndarray, mag: np.ndarray, mag_err: np.ndarray
) -> float:
    """Lag-1 autocorrelation of the magnitude sequence.

    ``r₁ = Σ_{i<N} (m_i − m̄)(m_{i+1} − m̄) / Σ_i (m_i − m̄)²`` (Box &
    Jenkins 1976, *Time Series Analysis*, eq. 2.1.12), ignoring the uneven
    spacing; near 0 for white noise, near 1 for curves smooth on the cadence.
    """
    y = mag - mag.mean()
    return float(np.sum(y[:-1] * y[1:]) / np.sum(y * y))


def anderson_darling(time: np.ndarray, mag: np.ndarray, mag_err: np.ndarray) -> float:
    """Anderson-Darling statistic for normality, with estimated mean and variance.

    With ``Φ_i`` the standard normal CDF of the sorted ``(m_(i) − m̄) / s``,
    ``A² = −N − (1/N) Σ_{i=1}^{N} (2i − 1) [ln Φ_i + ln(1 − Φ_{N+1−i})]``,
    multiplied by ``1 + 4/N − 25/N²`` (Anderson & Darling 1954, JASA 49, 765,
    doi:10.1080/01621459.1954.10501232; correction of Stephens 1974, JASA 69,
    730, doi:10.1080/01621459.1974.10480196). Large for non-Gaussian
    (variable) magnitude distributions.
    """
    n = mag.size
    z = np.sort((mag - mag.mean()) / np.std(mag, ddof=1))
    log_cdf = log_ndtr(z)
    log_survival = log_ndtr(-z[::-1])
    rank = 2 * np.arange(1, n + 1) - 1
    statistic = -n - np.sum(rank * (log_cdf + log_survival)) / n
    return float(statistic * (1 + 4 / n - 25 / n**2))


def excess_variance(time: np.ndarray, mag: np.ndarray, mag_err: np.ndarray) -> float:
    """Normalised excess variance.

    ``σ²_nxs = (s² − ⟨σ_i²⟩) / m̄²`` (Nandra et al. 1997, ApJ 476, 70,
    doi:10.1086/303600; Vaughan et al. 2003, MNRAS 345, 1271,
    doi:10.1046/j.1365-2966.2003.07042.x): variance beyond the errors.
    Defined there on fluxes; here on magnitudes, as in the ``light_curve``
    package.
    """
    return float((np.var(mag, ddof=1) - np.mean(mag_err**2)) / np.mean(mag) ** 2)


# --------------------------------------------------------------------------- #
# Light-curve shape at the period
# --------------------------------------------------------------------------- #
FOURIER_FEATURES = ["fourier_r21", "fourier_r31", "fourier_phi21", "fourier_phi31"]


def fourier_decomposition(
    time: np.ndarray,
    mag: np.ndarray,
    mag_err: np.ndarray,
    period: float,
    n_harmonics: int = 3,
) -> dict[str, float]:
    """Amplitude ratios and phase differences of a harmonic fit at ``period``.

    Weighted least squares (weights ``1 / σ_i²``) of
    ``m(t) = A₀ + Σ_{k=1}^{n} A_k sin(kωt + φ_k)``, ``ω = 2π / period``, solved
    in its linear form ``a_k cos kωt + b_k sin kωt`` with
    ``A_k = sqrt(a_k² + b_k²)`` and ``φ_k = atan2(a_k, b_k)``. Returns
    ``R_k1 = A_k / A_1`` and ``φ_k1 = φ_k − k φ_1`` (mod 2π) for k = 2, 3
    (Simon & Lee 1981, ApJ 248, 291, doi:10.1086/159153). ``n_harmonics`` must
    be at least 3 and the fit needs more than ``2n + 1`` points.
    """
    if n_harmonics < 3:
        raise ValueError(f"n_harmonics must be at least 3, got {n_harmonics}")
    nan = dict.fromkeys(FOURIER_FEATURES, np.nan)
    if not (np.isfinite(period) and period > 0) or mag.size <= 2 * n_harmonics + 1:
        return nan

    phase = 2 * np.pi * np.mod((time - time[0]) / period, 1.0)
    order = np.arange(1, n_harmonics + 1)
    angle = np.multiply.outer(phase, order)
    design = np.hstack([np.ones((mag.size, 1)), np.cos(angle), np.sin(angle)])
    weight = 1.0 / mag_err
    coef, *_ = np.linalg.lstsq(design * weight[:, None], mag * weight, rcond=None)

    cosine, sine = coef[1 : n_harmonics + 1], coef[n_harmonics + 1 :]
    amplitudes = np.hypot(cosine, sine)
    phases = np.arctan2(cosine, sine)
    if not amplitudes[0] > 0:
        return nan
    return {
        "fourier_r21": float(amplitudes[1] / amplitudes[0]),
        "fourier_r31": float(amplitudes[2] / amplitudes[0]),
        "fourier_phi21": float(np.mod(phases[1] - 2 * phases[0], 2 * np.pi)),
        "fourier_phi31": float(np.mod(phases[2] - 3 * phases[0], 2 * np.pi)),
    }


# --------------------------------------------------------------------------- #
# Position
# --------------------------------------------------------------------------- #
def galactic_coordinates(
    ra: np.ndarray | float, dec: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray]:
    """Galactic longitude and latitude (degrees) of ICRS ``ra``, ``dec`` (degrees).

    The IAU 1958 galactic frame as realised by astropy (Blaauw et al. 1960,
    MNRAS 121, 123, doi:10.1093/mnras/121.2.123).
    """
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    coords = SkyCoord(
        ra=np.asarray(ra, float) * u.deg, dec=np.asarray(dec, float) * u.deg
    )
    galactic = coords.galactic
    return galactic.l.deg, galactic.b.deg


# --------------------------------------------------------------------------- #
# The feature table
# --------------------------------------------------------------------------- #
FEATURES: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], float]] = {
    "median": median,
    "mean": mean,
    "std": standard_deviation,
    "skewness": skewness,
    "kurtosis": kurtosis,
    "weighted_mean": weighted_mean,
    "weighted_std": weighted_std,
    "weighted_skewness": weighted_skewness,
    "weighted_kurtosis": weighted_kurtosis,
    "median_absolute_deviation": median_absolute_deviation,
    "amplitude": amplitude,
    "robust_amplitude": robust_amplitude,
    "percent_amplitude": percent_amplitude,
    "median_buffer_range_percentage": median_buffer_range_percentage,
    "flux_asymmetry": flux_asymmetry,
    "cusum": cusum,
    "mean_variance": mean_variance,
    "roms": roms,
    "peak_to_peak_variability": peak_to_peak_variability,
    "autocorrelation_lag1": autocorrelation_lag1,
    "anderson_darling": anderson_darling,
    "excess_variance": excess_variance,
    "stetson_k": stetson_k,
    "von_neumann_eta": von_neumann_eta,
    "eta_e": eta_e,
    "maximum_slope": maximum_slope,
}
"""Per-band features that need no period, by output name."""

PERIOD_FEATURES = ["period", "period_power", *FOURIER_FEATURES]
"""Per-band outputs that depend on the period search."""

STAR_PERIOD_COLUMNS = ["period", "period_fap", "period_alias", "alias_delta_chi2"]
"""Float columns of the period adopted for the star (see ``choose_period``) and
of its strongest sampling alias (see ``varsky.period.check_aliases``)."""

DEFAULT_PARAMS = {
    "min_points": 20,
    "buffer_range_fraction": 0.1,
    "amplitude_percentile": 5.0,
    "fourier_harmonics": 3,
}
"""Defaults of the ``features`` config section, besides ``bands`` and ``period``."""


def feature_params(params: dict | None) -> dict:
    """The feature parameters with defaults filled in, checked.

    Raises ``ValueError`` naming the key, its value and the allowed range.
    """
    merged = dict(DEFAULT_PARAMS)
    merged.update({k: v for k, v in (params or {}).items() if k != "period"})
    merged["period"] = period_search.period_params(params)
    _require(merged, "min_points", lambda v: int(v) >= 4, "an integer ≥ 4")
    _require(merged, "fourier_harmonics", lambda v: int(v) >= 3, "an integer ≥ 3")
    _require(merged, "amplitude_percentile", lambda v: 0 < v < 50, "in (0, 50)")
    _require(merged, "buffer_range_fraction", lambda v: v > 0, "positive")
    period_search.check_period_params(merged["period"])
    return merged


def _require(params: dict, key: str, test, allowed: str) -> None:
    """Raise a ``ValueError`` if ``params[key]`` fails ``test``."""
    if not test(params[key]):
        raise ValueError(f"features.{key} = {params[key]!r}: must be {allowed}")


def band_problem(
    time: np.ndarray, mag: np.ndarray, mag_err: np.ndarray, min_points: int
) -> str:
    """Why a band's light curve cannot give features, or ``""`` if it can.

    Checked in order: too few points, non-finite values, errors not positive,
    times not increasing (unsorted or repeated), all magnitudes equal.
    """
    if mag.size < max(min_points, 4):
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
    """Every function of :data:`FEATURES` on one valid light curve."""
    options = {
        "robust_amplitude": {"percentile": params["amplitude_percentile"]},
        "median_buffer_range_percentage": {"fraction": params["buffer_range_fraction"]},
    }
    return {
        name: func(time, mag, mag_err, **options.get(name, {}))
        for name, func in FEATURES.items()
    }


# --------------------------------------------------------------------------- #
# The same features for many light curves at once
# --------------------------------------------------------------------------- #
class Segments:
    """Many light curves stored end to end, with per-curve reductions.

    ``starts`` holds the first index of each light curve in the concatenated
    ``time``, ``mag`` and ``mag_err`` arrays; every curve has at least 4
    points. Sums, extremes and order statistics per curve are computed with
    ``ufunc.reduceat`` and one sort, without a Python loop over curves.
    """

    def __init__(self, time, mag, mag_err, starts):
        self.time, self.mag, self.mag_err = time, mag, mag_err
        self.starts = np.asarray(starts, dtype=np.intp)
        self.count = np.diff(np.append(self.starts, mag.size))
        self.curve = np.repeat(np.arange(self.starts.size), self.count)
        self.last = self.starts + self.count - 1
        self.sorted_mag = self.sort_within(mag)

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Per-curve sum of a per-point array."""
        return np.add.reduceat(values, self.starts)

    def max(self, values: np.ndarray) -> np.ndarray:
        """Per-curve maximum of a per-point array."""
        return np.maximum.reduceat(values, self.starts)

    def min(self, values: np.ndarray) -> np.ndarray:
        """Per-curve minimum of a per-point array."""
        return np.minimum.reduceat(values, self.starts)

    def spread(self, values: np.ndarray) -> np.ndarray:
        """A per-curve array repeated onto the points."""
        return values[self.curve]

    def sort_within(self, values: np.ndarray) -> np.ndarray:
        """``values`` sorted in increasing order inside each curve.

        Curves of similar length are sorted as rows of one padded table,
        which is faster than one long sort; very uneven lengths fall back to
        one sort of ``2c + (v − min_c) / (max_c − min_c)``, which keeps the
        curves ``c`` apart and each curve's order.
        """
        longest = int(self.count.max())
        if longest * self.count.size <= 4 * values.size:
            table = np.full((self.count.size, longest), np.inf)
            table[self.curve, np.arange(values.size) - self.spread(self.starts)] = (
                values
            )
            table.sort(axis=1)
            return table[np.arange(longest) < self.count[:, None]]
        low = self.min(values)
        width = self.max(values) - low
        scale = np.divide(1.0, width, out=np.zeros_like(width), where=width > 0)
        key = (values - self.spread(low)) * self.spread(scale) + 2.0 * self.curve
        return values[np.argsort(key)]

    def quantile(self, ordered: np.ndarray, position: np.ndarray) -> np.ndarray:
        """Linear interpolation in sorted curves at 0-based ``position``."""
        position = np.clip(position, 0, self.count - 1)
        low = np.floor(position).astype(np.intp)
        high = np.minimum(low + 1, self.count - 1)
        fraction = position - low
        below = ordered[self.starts + low]
        return below + fraction * (ordered[self.starts + high] - below)

    def median(self, ordered: np.ndarray) -> np.ndarray:
        """Median of each curve from its sorted values."""
        return self.quantile(ordered, (self.count - 1) / 2.0)

    def successive(self, values: np.ndarray) -> np.ndarray:
        """``values[i + 1] − values[i]`` inside a curve, 0 at each curve's end."""
        step = np.zeros_like(values)
        step[:-1] = np.diff(values)
        step[self.last] = 0.0
        return step


def _moments(seg: Segments) -> dict[str, np.ndarray]:
    """Unweighted and weighted location, spread and shape per curve."""
    n, m = seg.count, seg.mag
    mean_ = seg.sum(m) / n
    dev = m - seg.spread(mean_)
    var = seg.sum(dev * dev) / (n - 1)
    std = np.sqrt(var)
    z = dev / seg.spread(std)
    z2 = z * z
    weight = 1.0 / (seg.mag_err * seg.mag_err)
    v1, v2 = seg.sum(weight), seg.sum(weight * weight)
    wmean = seg.sum(weight * m) / v1
    wdev = m - seg.spread(wmean)
    wdev2 = weight * wdev * wdev
    wm2, wm3, wm4 = (seg.sum(wdev2 * w) / v1 for w in (1.0, wdev, wdev * wdev))
    return {
        "mean": mean_,
        "std": std,
        "var": var,
        "dev": dev,
        "skewness": n / ((n - 1) * (n - 2)) * seg.sum(z2 * z),
        "kurtosis": n * (n + 1) / ((n - 1) * (n - 2) * (n - 3)) * seg.sum(z2 * z2)
        - 3 * (n - 1) ** 2 / ((n - 2) * (n - 3)),
        "weighted_mean": wmean,
        "weighted_std": np.sqrt(v1 * wm2 / (v1 - v2 / v1)),
        "weighted_skewness": wm3 / wm2**1.5,
        "weighted_kurtosis": wm4 / wm2**2 - 3.0,
    }


def _order_statistics(seg: Segments, params: dict) -> dict[str, np.ndarray]:
    """Median-, percentile- and extreme-based features per curve."""
    n, m, ordered = seg.count, seg.mag, seg.sorted_mag
    med = seg.median(ordered)
    distance = np.abs(m - seg.spread(med))
    top, bottom = seg.max(m), seg.min(m)
    p = float(params["amplitude_percentile"]) / 100.0
    low = seg.quantile(ordered, n * p - 0.5)
    high = seg.quantile(ordered, n * (1 - p) - 0.5)
    half_range = (top - bottom) / 2.0
    inside = distance < float(params["buffer_range_fraction"]) * seg.spread(half_range)
    return {
        "median": med,
        "distance": distance,
        "median_absolute_deviation": seg.median(seg.sort_within(distance)),
        "amplitude": half_range,
        "robust_amplitude": (high - low) / 2.0,
        "percent_amplitude": np.maximum(top - med, med - bottom),
        "median_buffer_range_percentage": seg.sum(inside.astype(float)) / n,
        "decile_low": seg.quantile(ordered, 0.1 * (n - 1)),
        "decile_high": seg.quantile(ordered, 0.9 * (n - 1)),
    }


def _sequence_features(seg: Segments, base: dict) -> dict[str, np.ndarray]:
    """Features of the time order: differences, cumulative sums, correlation."""
    n, m, dev = seg.count, seg.mag, base["dev"]
    step = seg.successive(m)
    rate = np.divide(
        step, seg.successive(seg.time), out=np.zeros_like(step), where=step != 0
    )
    span = seg.time[seg.last] - seg.time[seg.starts]
    partial = np.cumsum(dev)
    partial -= seg.spread(partial[seg.starts] - dev[seg.starts])
    next_dev = np.append(dev[1:], 0.0)
    next_dev[seg.last] = 0.0
    return {
        "von_neumann_eta": seg.sum(step**2) / ((n - 1) * base["var"]),
        "eta_e": span**2 * seg.sum(rate**2) / ((n - 1) ** 3 * base["var"]),
        "maximum_slope": seg.max(np.abs(rate)),
        "cusum": (seg.max(partial) - seg.min(partial)) / (n * base["std"]),
        "autocorrelation_lag1": seg.sum(dev * next_dev) / seg.sum(dev**2),
    }


def _error_features(seg: Segments, base: dict) -> dict[str, np.ndarray]:
    """Features comparing the scatter with the magnitude errors."""
    n, m, e = seg.count, seg.mag, seg.mag_err
    residual = (m - seg.spread(base["weighted_mean"])) / e
    upper, lower = seg.max(m - e), seg.min(m + e)
    return {
        "stetson_k": seg.sum(np.abs(residual)) / n / np.sqrt(seg.sum(residual**2) / n),
        "roms": seg.sum(base["distance"] / e) / (n - 1),
        "peak_to_peak_variability": (upper - lower) / (upper + lower),
        "excess_variance": (base["var"] - seg.sum(e**2) / n) / base["mean"] ** 2,
        "mean_variance": base["std"] / base["mean"],
    }


def _distribution_features(seg: Segments, base: dict) -> dict[str, np.ndarray]:
    """Flux asymmetry and the Anderson-Darling statistic per curve."""
    n, m = seg.count, seg.mag
    extreme = (m <= seg.spread(base["decile_low"])) | (
        m >= seg.spread(base["decile_high"])
    )
    extremes_mean = seg.sum(m * extreme) / seg.sum(extreme.astype(float))

    z = (seg.sorted_mag - seg.spread(base["mean"])) / seg.spread(base["std"])
    rank = np.arange(m.size) - seg.spread(seg.starts)
    mirror = seg.spread(seg.starts + seg.count - 1) - rank
    tails = special.ndtr(z) * special.ndtr(-z[mirror])
    log_tails = np.log(tails, out=np.full_like(tails, -np.inf), where=tails > 0)
    deep = tails == 0  # beyond 37 σ: only log_ndtr resolves the tails
    log_tails[deep] = log_ndtr(z[deep]) + log_ndtr(-z[mirror][deep])
    terms = (2 * rank + 1) * log_tails
    statistic = -n - seg.sum(terms) / n
    return {
        "flux_asymmetry": (extremes_mean - base["median"]) / base["std"],
        "anderson_darling": statistic * (1 + 4 / n - 25 / n**2),
    }


def batch_features(seg: Segments, params: dict) -> dict[str, np.ndarray]:
    """Every feature of :data:`FEATURES` for all curves of ``seg`` at once.

    Same definitions as the single-curve functions (tests check equality);
    each curve must pass :func:`band_problem`.
    """
    base = {**_moments(seg), **_order_statistics(seg, params)}
    base.update(_sequence_features(seg, base))
    base.update(_error_features(seg, base))
    base.update(_distribution_features(seg, base))
    return {name: base[name] for name in FEATURES}


def band_order(lightcurves: pd.DataFrame, params: dict) -> list[str]:
    """Bands in the order of ``params["bands"]`` if given, else sorted."""
    if params.get("bands"):
        return [str(b) for b in params["bands"]]
    return sorted(pd.unique(lightcurves["band"].astype(str)))


def output_columns(bands: list[str], positions: bool = False) -> list[str]:
    """Column names of the feature table for the given band order."""
    per_band = [*FEATURES, *PERIOD_FEATURES]
    columns = ["source_id"]
    columns += [f"{name}_{band}" for band in bands for name in per_band]
    columns += [f"color_{b1}_{b2}" for b1, b2 in pairwise(bands)]
    columns += STAR_PERIOD_COLUMNS
    if positions:
        columns += ["galactic_l", "galactic_b"]
    return [*columns, "period_method", "period_flags", "reason"]


def _band_runs(lightcurves: pd.DataFrame):
    """Yield ``(star, band, time, mag, mag_err)`` per star and band, rows in order.

    Stars come in order of first appearance; within a (star, band) the row
    order is kept, so unsorted times stay visible to :func:`band_problem`.
    """
    if lightcurves.empty:
        return
    star_code, stars = pd.factorize(lightcurves["source_id"].astype(str), sort=False)
    band_code, bands = pd.factorize(lightcurves["band"].astype(str), sort=False)
    order = np.lexsort((band_code, star_code))
    star_sorted, band_sorted = star_code[order], band_code[order]
    change = np.flatnonzero((np.diff(star_sorted) != 0) | (np.diff(band_sorted) != 0))
    starts = np.concatenate([[0], change + 1])
    stops = np.concatenate([change + 1, [order.size]])

    time = lightcurves["time"].to_numpy(dtype="float64")[order]
    mag = lightcurves["mag"].to_numpy(dtype="float64")[order]
    mag_err = lightcurves["mag_err"].to_numpy(dtype="float64")[order]
    star_names, band_names = np.asarray(stars), np.asarray(bands)
    for start, stop in zip(starts, stops, strict=True):
        yield (
            str(star_names[star_sorted[start]]),
            str(band_names[band_sorted[start]]),
            time[start:stop],
            mag[start:stop],
            mag_err[start:stop],
        )


def _band_seed(seed: int, star: str, band: str) -> np.random.Generator:
    """A generator seeded by ``seed``, the star and the band, not by the shard."""
    return np.random.default_rng([int(seed), zlib.crc32(f"{star}\0{band}".encode())])


def _star_grid(curves: dict[str, tuple], period: dict):
    """The frequency grid shared by a star's bands: that of its longest band."""
    if not curves:
        return None
    baseline = max(t[-1] - t[0] for t, _, _ in curves.values())
    return period_search.frequency_grid(baseline, period)


def star_periods(
    star: str, curves: dict[str, tuple[np.ndarray, ...]], params: dict
) -> tuple[dict[str, float], dict[str, str]]:
    """Period features of one star from its valid bands' ``(time, mag, mag_err)``.

    Returns the float values by output column (``period_<band>``,
    ``period_power_<band>``, the Fourier terms, ``period``, ``period_fap``,
    ``period_alias``, ``alias_delta_chi2``)
    and the string columns ``period_method`` and ``period_flags``.
    """
    period = params["period"]
    values: dict[str, float] = {}
    searches = {}
    grid = _star_grid(curves, period)
    for band, (t, m, e) in curves.items():
        rng = _band_seed(period["seed"], star, band)
        searches[band] = period_search.search_band(t, m, e, period, rng, grid)
        best = searches[band].peaks["lomb_scargle"][0]
        values[f"period_{band}"] = best.period
        values[f"period_power_{band}"] = best.statistic

    chosen = period_search.choose_period(searches, period)
    values["period"] = chosen.period
    values["period_fap"] = chosen.fap
    values["period_alias"] = chosen.alias_period
    values["alias_delta_chi2"] = chosen.alias_delta_chi2

    for band, (t, m, e) in curves.items():
        shape = fourier_decomposition(
            t, m, e, chosen.period, int(params["fourier_harmonics"])
        )
        values.update({f"{k}_{band}": v for k, v in shape.items()})
    return values, {
        "period_method": chosen.method,
        "period_flags": ",".join(chosen.flags),
    }


def _fill_band_features(
    table: pd.DataFrame, curves: dict[str, dict[str, tuple]], params: dict
) -> None:
    """Fill ``<feature>_<band>`` in place for all valid curves in one batch.

    ``table`` rows follow the order of ``curves``' stars.
    """
    where = [
        (row, band, t, m, e)
        for row, per_band in enumerate(curves.values())
        for band, (t, m, e) in per_band.items()
    ]
    if not where:
        return
    sizes = [len(t) for _, _, t, _, _ in where]
    segments = Segments(
        np.concatenate([t for _, _, t, _, _ in where]),
        np.concatenate([m for _, _, _, m, _ in where]),
        np.concatenate([e for _, _, _, _, e in where]),
        np.concatenate([[0], np.cumsum(sizes)[:-1]]),
    )
    values = batch_features(segments, params)
    rows = np.array([row for row, *_ in where])
    bands = np.array([band for _, band, *_ in where])
    for band in np.unique(bands):
        chosen = bands == band
        for name, column in values.items():
            table.loc[rows[chosen], f"{name}_{band}"] = column[chosen]


def _colours(table: pd.DataFrame, bands: list[str]) -> None:
    """Fill ``color_<b1>_<b2> = median_<b1> − median_<b2>`` in place."""
    for b1, b2 in pairwise(bands):
        table[f"color_{b1}_{b2}"] = table[f"median_{b1}"] - table[f"median_{b2}"]


def _add_positions(table: pd.DataFrame, positions: pd.DataFrame) -> None:
    """Fill ``galactic_l`` and ``galactic_b`` in place from ICRS ``ra``, ``dec``."""
    where = positions.drop_duplicates("source_id").set_index("source_id")
    where = where.reindex(table["source_id"])
    known = where["ra"].notna().to_numpy() & where["dec"].notna().to_numpy()
    if known.any():
        l_deg, b_deg = galactic_coordinates(
            where["ra"].to_numpy()[known], where["dec"].to_numpy()[known]
        )
        table.loc[known, "galactic_l"] = l_deg
        table.loc[known, "galactic_b"] = b_deg


def extract_features(
    lightcurves: pd.DataFrame, params: dict, positions: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Feature table of one shard of tidy light curves, one row per star.

    Parameters
    ----------
    lightcurves : pandas.DataFrame
        Columns ``source_id``, ``band``, ``time``, ``mag``, ``mag_err``,
        ``flags``; only rows with ``flags == 0`` are used.
    params : dict
        The ``features`` section of the config (see :data:`DEFAULT_PARAMS`
        and ``varsky.period.DEFAULT_PERIOD_PARAMS``).
    positions : pandas.DataFrame, optional
        ``source_id``, ``ra``, ``dec`` (ICRS degrees); adds ``galactic_l`` and
        ``galactic_b``.

    Returns
    -------
    pandas.DataFrame
        ``source_id``; float64 ``<feature>_<band>`` for every name in
        :data:`FEATURES` and :data:`PERIOD_FEATURES` (``period_<band>`` and
        ``period_power_<band>`` are the band's highest Lomb-Scargle peak; the
        Fourier terms are at the star's period); ``color_<b1>_<b2>`` =
        ``median_<b1> − median_<b2>`` for consecutive bands; ``period`` and
        ``period_fap`` of the star (``varsky.period.choose_period``);
        ``period_alias``, its strongest sampling alias, and
        ``alias_delta_chi2``, by how much the light curves prefer the period
        to that alias (``varsky.period.check_aliases``); strings
        ``period_method``, ``period_flags`` and ``reason`` (empty, or why
        values are NaN). A band a star lacks gives NaN.
    """
    started = clock.perf_counter()
    params = feature_params(params)
    bands = band_order(lightcurves, params)
    columns = output_columns(bands, positions is not None)
    good = lightcurves[lightcurves["flags"] == 0]
    stars = list(pd.unique(lightcurves["source_id"].astype(str)))

    curves: dict[str, dict[str, tuple]] = {star: {} for star in stars}
    reasons: dict[str, list[str]] = {star: [] for star in stars}
    seen: dict[str, set[str]] = {star: set() for star in stars}
    for star, band, t, m, e in _band_runs(good):
        if band not in bands:
            continue
        seen[star].add(band)
        problem = band_problem(t, m, e, int(params["min_points"]))
        if problem:
            reasons[star].append(f"{band}: {problem}")
        else:
            curves[star][band] = (t, m, e)

    rows, strings = [], []
    for star in stars:
        missing = [b for b in bands if b not in seen[star]]
        if missing:
            reasons[star].insert(0, f"{', '.join(missing)}: no observations")
        values, text = star_periods(star, curves[star], params)
        rows.append(values)
        strings.append({**text, "reason": "; ".join(reasons[star])})

    table = pd.DataFrame(rows, index=range(len(stars)), columns=columns[1:-3])
    table = table.astype("float64")
    _fill_band_features(table, curves, params)
    _colours(table, bands)
    table.insert(0, "source_id", pd.Series(stars, dtype=str))
    if positions is not None:
        _add_positions(table, positions)
    text = pd.DataFrame(strings, index=table.index, columns=columns[-3:])
    table = pd.concat([table, text.fillna("").astype(str)], axis=1)

    log.info(
        "features: %d stars, bands %s, %d with a reason, %.1f s",
        len(stars),
        ",".join(bands),
        sum(bool(r) for r in reasons.values()),
        clock.perf_counter() - started,
    )
    return table[columns]
