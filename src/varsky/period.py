"""Frequency grid and period search for single-band light curves.

One grid serves every method: frequencies from ``1 / max_days`` to
``1 / min_days`` in steps of ``1 / (oversampling × baseline)``, where the
baseline is the time span of the light curve searched, so that every
periodogram peak (of width about ``1 / baseline``) is sampled ``oversampling``
times.

Three statistics are computed:

* the generalised Lomb-Scargle periodogram (Lomb 1976, Ap&SS 39, 447,
  doi:10.1007/BF00648343; Scargle 1982, ApJ 263, 835, doi:10.1086/160554;
  floating mean and error weights of Zechmeister & Kürster 2009, A&A 496, 577,
  doi:10.1051/0004-6361:200811296) on the whole grid, from non-uniform fast
  Fourier transforms (finufft, Barnett et al. 2019, SIAM J. Sci. Comput. 41,
  C479, doi:10.1137/18M120885X); nifty-ls and astropy compute the same
  periodogram and serve as cross-checks;
* phase dispersion minimisation (Stellingwerf 1978, ApJ 224, 953,
  doi:10.1086/156444);
* conditional entropy (Graham et al. 2013, MNRAS 434, 2629,
  doi:10.1093/mnras/stt1206).

Phase dispersion and conditional entropy cost ``N`` operations per trial
frequency where the periodogram costs about ``log N``. By default they are
therefore evaluated on the grid points near the strongest periodogram peaks
and near half and twice their frequencies (``search: candidates``); with
``search: full`` they scan the whole grid.

False-alarm probabilities: Baluev (2008, MNRAS 385, 1279,
doi:10.1111/j.1365-2966.2008.13022.x) for the periodogram, via astropy. For
the other two, each value is turned into a normal score through its
distribution under white Gaussian noise (an F ratio for phase dispersion, a
G-test χ² for conditional entropy); ``fap_trials`` seeded copies of the light
curve with shuffled magnitudes calibrate the scores' mean and spread for the
actual noise; the single-frequency probability ``p`` is then corrected for the
number of independent frequencies searched, ``N_eff = grid size /
oversampling``, as ``FAP = 1 − (1 − p)^N_eff``.
"""

from __future__ import annotations

import itertools
import logging
import math
from dataclasses import dataclass, field
from functools import lru_cache

import finufft
import numpy as np
import pandas as pd
from scipy import special
from scipy.special import log_ndtr

log = logging.getLogger(__name__)

DEFAULT_PERIOD_PARAMS = {
    "min_days": 0.1,
    "max_days": 1000.0,
    "oversampling": 5,
    "backend": "finufft",
    "nufft_tolerance": 1e-7,
    "n_peaks": 3,
    "n_candidates": 10,
    "refine_steps": 3,
    "search": "candidates",
    "pdm_bins": 10,
    "ce_phase_bins": 10,
    "ce_mag_bins": 5,
    "fap_trials": 20,
    "seed": 20140101,
    "alias_periods": {
        "day": 1.0,
        "half_day": 0.5,
        "lunar_month": 29.530589,
        "year": 365.25,
    },
    "alias_tolerance": 0.01,
    "max_harmonic": 4,
    "double_period_ratio": 0.9,
    "double_min_cycles": 10,
    "fap_threshold": 0.01,
    "alias_frequency": 1.0027379,
    "alias_orders": 2,
    "alias_harmonics": 4,
    "alias_choice": "chi2",
}
"""Defaults of the ``features.period`` config section (see the config schema)."""

METHODS = ("lomb_scargle", "pdm", "conditional_entropy")
"""Period-search methods, in the order of preference for ties."""


@dataclass(frozen=True)
class FrequencyGrid:
    """A uniform frequency grid ``f_k = f_min + k·df`` for ``k < n`` (1/day)."""

    f_min: float
    df: float
    n: int
    oversampling: float = 1.0

    @property
    def frequencies(self) -> np.ndarray:
        """The grid as an array, in cycles per day."""
        return self.f_min + self.df * np.arange(self.n)

    @property
    def f_max(self) -> float:
        """The highest frequency of the grid."""
        return self.f_min + self.df * (self.n - 1)

    @property
    def independent_frequencies(self) -> float:
        """Approximate number of independent frequencies, ``n / oversampling``."""
        return max(self.n / self.oversampling, 1.0)


@dataclass
class Peak:
    """One period candidate of one method.

    ``statistic`` is the periodogram power (higher is better) or the phase
    dispersion / conditional entropy (lower is better); ``flags`` name known
    aliases and harmonics (see :func:`alias_flags`).
    """

    method: str
    frequency: float
    statistic: float
    fap: float = np.nan
    flags: list[str] = field(default_factory=list)

    @property
    def period(self) -> float:
        """The period in days."""
        return 1.0 / self.frequency


@dataclass
class BandSearch:
    """Result of :func:`search_band`: the best peaks of every method."""

    grid: FrequencyGrid
    peaks: dict[str, list[Peak]]
    power: np.ndarray
    time: np.ndarray
    mag: np.ndarray
    mag_err: np.ndarray


def period_params(params: dict | None) -> dict:
    """The ``period`` section of the feature parameters, with defaults filled in."""
    merged = dict(DEFAULT_PERIOD_PARAMS)
    merged.update((params or {}).get("period", {}) or {})
    return merged


def check_period_params(period: dict) -> None:
    """Raise ``ValueError`` naming a ``features.period`` key that is out of range."""
    checks = [
        ("min_days", period["min_days"] > 0, "positive"),
        ("max_days", period["max_days"] > period["min_days"], "above min_days"),
        ("oversampling", period["oversampling"] >= 1, "at least 1"),
        (
            "backend",
            period["backend"] in LOMB_SCARGLE_BACKENDS,
            "one of " + ", ".join(LOMB_SCARGLE_BACKENDS),
        ),
        ("search", period["search"] in ("candidates", "full"), "candidates or full"),
        ("nufft_tolerance", 0 < period["nufft_tolerance"] < 1e-2, "in (0, 0.01)"),
        ("n_peaks", int(period["n_peaks"]) >= 1, "an integer ≥ 1"),
        (
            "n_candidates",
            int(period["n_candidates"]) >= int(period["n_peaks"]),
            "an integer ≥ n_peaks",
        ),
        ("refine_steps", int(period["refine_steps"]) >= 0, "an integer ≥ 0"),
        ("pdm_bins", int(period["pdm_bins"]) >= 2, "an integer ≥ 2"),
        ("ce_phase_bins", int(period["ce_phase_bins"]) >= 2, "an integer ≥ 2"),
        ("ce_mag_bins", int(period["ce_mag_bins"]) >= 2, "an integer ≥ 2"),
        ("fap_trials", int(period["fap_trials"]) >= 2, "an integer ≥ 2"),
        ("alias_tolerance", 0 < period["alias_tolerance"] < 0.5, "in (0, 0.5)"),
        ("max_harmonic", int(period["max_harmonic"]) >= 2, "an integer ≥ 2"),
        ("double_period_ratio", 0 < period["double_period_ratio"] <= 1, "in (0, 1]"),
        ("double_min_cycles", period["double_min_cycles"] >= 0, "≥ 0"),
        ("fap_threshold", 0 <= period["fap_threshold"] <= 1, "in [0, 1]"),
        ("alias_frequency", period["alias_frequency"] > 0, "positive"),
        ("alias_orders", int(period["alias_orders"]) >= 1, "an integer ≥ 1"),
        ("alias_harmonics", int(period["alias_harmonics"]) >= 1, "an integer ≥ 1"),
        ("alias_choice", period["alias_choice"] in ("chi2", "keep"), "chi2 or keep"),
    ]
    for key, good, allowed in checks:
        if not good:
            raise ValueError(
                f"features.period.{key} = {period[key]!r}: must be {allowed}"
            )


# --------------------------------------------------------------------------- #
# Grid
# --------------------------------------------------------------------------- #
def frequency_grid(baseline: float, period: dict) -> FrequencyGrid:
    """Frequency grid for a light curve of time span ``baseline`` days.

    ``f_min = 1 / max_days``, ``f_max = 1 / min_days`` and
    ``df = 1 / (oversampling × baseline)``; the grid has
    ``floor((f_max − f_min) / df) + 1`` points.

    Parameters
    ----------
    baseline : float
        Time span of the light curve in days (must be positive).
    period : dict
        ``min_days``, ``max_days`` and ``oversampling`` (see
        :data:`DEFAULT_PERIOD_PARAMS`).
    """
    if not baseline > 0:
        raise ValueError(f"baseline must be positive, got {baseline} days")
    f_min = 1.0 / float(period["max_days"])
    f_max = 1.0 / float(period["min_days"])
    oversampling = float(period["oversampling"])
    df = 1.0 / (oversampling * baseline)
    n = int(np.floor((f_max - f_min) / df)) + 1
    return FrequencyGrid(f_min=f_min, df=df, n=n, oversampling=oversampling)


# --------------------------------------------------------------------------- #
# Lomb-Scargle
# --------------------------------------------------------------------------- #
@lru_cache(maxsize=8)
def _nufft_plan(n_modes: int, n_trans: int, tolerance: float) -> finufft.Plan:
    """A type-1 NUFFT plan, reused by every light curve with the same size."""
    return finufft.Plan(
        1, (n_modes,), n_trans=n_trans, eps=tolerance, isign=1, nthreads=1
    )


def _padded_size(n: int) -> int:
    """Grid size rounded up to a multiple of 2048, so that plans can be shared."""
    return int(-(-n // 2048) * 2048)


def trig_sums(
    time: np.ndarray,
    strengths: np.ndarray,
    grid: FrequencyGrid,
    scale: int,
    tolerance: float,
) -> np.ndarray:
    """``Σ_j c_j exp(2πi · scale · f_k · t_j)`` for every grid frequency ``f_k``.

    ``strengths`` has shape ``(n_trans, N)``. One type-1 NUFFT: with
    ``x_j = 2π · scale · df · t_j`` (mod 2π) and the strengths pre-multiplied
    by ``exp(2πi · scale · (f_min + (n/2)·df) · t_j)``, output mode ``k − n/2``
    is the sum at ``f_k``.
    """
    n_modes = _padded_size(grid.n)
    shift = scale * (grid.f_min + (n_modes // 2) * grid.df)
    phase = 2 * np.pi * np.mod(shift * time, 1.0)
    points = 2 * np.pi * np.mod(scale * grid.df * time, 1.0)
    plan = _nufft_plan(n_modes, strengths.shape[0], tolerance)
    plan.setpts(points)
    shifted = (strengths * np.exp(1j * phase)).astype(np.complex128)
    out = plan.execute(shifted if strengths.shape[0] > 1 else shifted[0])
    return np.atleast_2d(out)[:, : grid.n]


def lomb_scargle_power(
    time: np.ndarray,
    mag: np.ndarray,
    mag_err: np.ndarray,
    grid: FrequencyGrid,
    tolerance: float = 1e-7,
) -> np.ndarray:
    """Generalised Lomb-Scargle power on ``grid`` (standard normalisation).

    With normalised weights ``w_i = σ_i⁻² / Σ σ⁻²``, ``y_i = m_i − Σ w m``,
    ``C = Σ w cos ωt``, ``S = Σ w sin ωt``, ``YC = Σ w y cos ωt``,
    ``YS = Σ w y sin ωt``, ``CC = Σ w cos² ωt − C²``, ``SS = Σ w sin² ωt − S²``,
    ``CS = Σ w cos ωt sin ωt − C S`` and ``YY = Σ w y²``, the power is
    ``P = (SS·YC² + CC·YS² − 2 CS·YC·YS) / (YY (CC·SS − CS²))``, i.e.
    ``1 − χ²(f) / χ²_0`` for the best sinusoid plus constant (Zechmeister &
    Kürster 2009, eqs. 4-20). The double-angle sums come from a second
    transform at ``2ω``.
    """
    time = time - time[0]
    weight = 1.0 / mag_err**2
    weight = weight / weight.sum()
    y = mag - np.sum(weight * mag)

    first = trig_sums(time, np.vstack([weight, weight * y]), grid, 1, tolerance)
    second = trig_sums(time, weight[None, :], grid, 2, tolerance)[0]

    c, s = first[0].real, first[0].imag
    yc, ys = first[1].real, first[1].imag
    cc = 0.5 * (1.0 + second.real) - c * c
    ss = 0.5 * (1.0 - second.real) - s * s
    cs = 0.5 * second.imag - c * s
    yy = np.sum(weight * y * y)

    determinant = cc * ss - cs * cs
    return (ss * yc * yc + cc * ys * ys - 2 * cs * yc * ys) / (yy * determinant)


def lomb_scargle_power_nifty(
    time: np.ndarray, mag: np.ndarray, mag_err: np.ndarray, grid: FrequencyGrid
) -> np.ndarray:
    """The same periodogram as :func:`lomb_scargle_power`, computed by nifty-ls."""
    import nifty_ls

    result = nifty_ls.lombscargle(
        time,
        mag,
        mag_err,
        fmin=grid.f_min,
        fmax=grid.f_max,
        Nf=grid.n,
        backend="finufft",
        nthreads=1,
    )
    return result.power


def lomb_scargle_power_astropy(
    time: np.ndarray, mag: np.ndarray, mag_err: np.ndarray, grid: FrequencyGrid
) -> np.ndarray:
    """The same periodogram as :func:`lomb_scargle_power`, computed by astropy."""
    from astropy.timeseries import LombScargle

    return LombScargle(time, mag, mag_err).power(grid.frequencies, method="fast")


LOMB_SCARGLE_BACKENDS = {
    "finufft": lomb_scargle_power,
    "nifty_ls": lomb_scargle_power_nifty,
    "astropy": lomb_scargle_power_astropy,
}
"""Implementations of the same periodogram, chosen by ``period.backend``."""


def lomb_scargle_fap(
    power: np.ndarray,
    time: np.ndarray,
    mag: np.ndarray,
    mag_err: np.ndarray,
    grid: FrequencyGrid,
) -> np.ndarray:
    """Baluev (2008) upper bound on the false-alarm probability of ``power``.

    The probability that noise alone gives a peak this high anywhere between
    ``f_min`` and ``f_max``, computed by astropy's ``LombScargle``.
    """
    from astropy.timeseries import LombScargle

    periodogram = LombScargle(time, mag, mag_err)
    fap = periodogram.false_alarm_probability(
        np.asarray(power),
        method="baluev",
        minimum_frequency=grid.f_min,
        maximum_frequency=grid.f_max,
    )
    return np.clip(np.asarray(fap, dtype=float), 0.0, 1.0)


def local_maxima(values: np.ndarray, count: int) -> np.ndarray:
    """Indices of the ``count`` highest local maxima, highest first."""
    inner = (values[1:-1] > values[:-2]) & (values[1:-1] >= values[2:])
    index = np.flatnonzero(inner) + 1
    if index.size == 0:
        index = np.array([int(np.argmax(values))])
    if index.size > count:
        index = index[np.argpartition(-values[index], count - 1)[:count]]
    return index[np.argsort(-values[index], kind="stable")]


# --------------------------------------------------------------------------- #
# Phase dispersion and conditional entropy
# --------------------------------------------------------------------------- #
def _phase_bins(time: np.ndarray, frequencies: np.ndarray, n_bins: int) -> np.ndarray:
    """Phase-bin index of every point at every frequency, shape ``(K, N)``."""
    phase = np.mod(np.multiply.outer(frequencies, time), 1.0)
    return np.minimum((phase * n_bins).astype(np.intp), n_bins - 1)


def _chunks(frequencies: np.ndarray, n_points: int, budget: int = 2_000_000):
    """Split a frequency array so each chunk has about ``budget`` phases."""
    size = max(budget // max(n_points, 1), 1)
    for start in range(0, frequencies.size, size):
        yield frequencies[start : start + size]


def _series_bins(bins: np.ndarray, n_series: int, n_cells: int) -> np.ndarray:
    """Flat cell index of every (series, frequency, point), for one bincount."""
    n_freq = bins.shape[0]
    offset = n_cells * np.arange(n_series * n_freq).reshape(n_series, n_freq, 1)
    return (bins[None, :, :] + offset).ravel()


def phase_dispersion(
    time: np.ndarray, mag: np.ndarray, frequencies: np.ndarray, n_bins: int = 10
) -> np.ndarray:
    """Phase dispersion minimisation statistic θ at each frequency.

    Fold at frequency ``f``, split the phase into ``M = n_bins`` equal bins;
    ``θ = [Σ_j Σ_{i∈j} (m_i − m̄_j)² / (N − M')] / [Σ_i (m_i − m̄)² / (N − 1)]``
    with ``M'`` the number of non-empty bins (Stellingwerf 1978, ApJ 224, 953,
    doi:10.1086/156444, eqs. 1-3, one cover). ``θ ≈ 1`` for noise; a smooth
    periodic signal gives a minimum at its period.

    ``mag`` may be 2-D, ``(S, N)``: ``S`` light curves on the same times give
    an ``(S, K)`` result.
    """
    y = np.atleast_2d(mag)
    y = y - y.mean(axis=1, keepdims=True)
    n_series, n_points = y.shape
    total = np.sum(y * y, axis=1, keepdims=True) / (n_points - 1)
    result = []
    for chunk in _chunks(np.asarray(frequencies, dtype=float), n_points * n_series):
        flat = _series_bins(_phase_bins(time, chunk, n_bins), n_series, n_bins)
        shape = (n_series, chunk.size, n_bins)
        size = int(np.prod(shape))
        weights = np.broadcast_to(y[:, None, :], (n_series, chunk.size, n_points))
        count = np.bincount(flat, minlength=size).reshape(shape)
        sum1 = np.bincount(flat, weights.ravel(), size).reshape(shape)
        sum2 = np.bincount(flat, (weights**2).ravel(), size).reshape(shape)
        mean_square = np.divide(sum1**2, count, out=np.zeros(shape), where=count > 0)
        dof = n_points - np.count_nonzero(count, axis=2)
        within = (sum2 - mean_square).sum(axis=2) / np.maximum(dof, 1)
        result.append(within / total)
    theta = np.concatenate(result, axis=1) if result else np.empty((n_series, 0))
    return theta if np.ndim(mag) > 1 else theta[0]


def conditional_entropy(
    time: np.ndarray,
    mag: np.ndarray,
    frequencies: np.ndarray,
    n_phase_bins: int = 10,
    n_mag_bins: int = 5,
) -> np.ndarray:
    """Conditional entropy of magnitude given phase at each frequency.

    Magnitudes are scaled to ``[0, 1]`` and binned with the phase into a
    ``n_phase_bins × n_mag_bins`` grid of occupation probabilities
    ``p(φ_i, m_j)``; ``H = Σ_ij p(φ_i, m_j) ln(p(φ_i) / p(φ_i, m_j))``
    (Graham et al. 2013, MNRAS 434, 2629, doi:10.1093/mnras/stt1206, eq. 4).
    The true period minimises ``H``: the folded curve is most ordered.

    ``mag`` may be 2-D, ``(S, N)``, as in :func:`phase_dispersion`.
    """
    m = np.atleast_2d(mag)
    n_series, n_points = m.shape
    low, high = m.min(axis=1, keepdims=True), m.max(axis=1, keepdims=True)
    scaled = (m - low) / (high - low)
    mag_bin = np.minimum((scaled * n_mag_bins).astype(np.intp), n_mag_bins - 1)
    cells = n_phase_bins * n_mag_bins
    result = []
    for chunk in _chunks(np.asarray(frequencies, dtype=float), n_points * n_series):
        phase_bin = _phase_bins(time, chunk, n_phase_bins) * n_mag_bins
        cell = phase_bin[None, :, :] + mag_bin[:, None, :]
        offset = cells * np.arange(n_series * chunk.size).reshape(n_series, -1, 1)
        shape = (n_series, chunk.size, n_phase_bins, n_mag_bins)
        joint = np.bincount((cell + offset).ravel(), minlength=int(np.prod(shape)))
        joint = joint.reshape(shape) / n_points
        marginal = joint.sum(axis=3, keepdims=True)
        ratio = np.divide(marginal, joint, out=np.ones(shape), where=joint > 0)
        result.append(np.sum(joint * np.log(ratio), axis=(2, 3)))
    entropy = np.concatenate(result, axis=1) if result else np.empty((n_series, 0))
    return entropy if np.ndim(mag) > 1 else entropy[0]


# --------------------------------------------------------------------------- #
# Candidates, peaks and their significance
# --------------------------------------------------------------------------- #
def candidate_frequencies(
    grid: FrequencyGrid, centres: np.ndarray, refine_steps: int
) -> np.ndarray:
    """Grid frequencies within ``refine_steps`` steps of ``f/2``, ``f`` and ``2f``.

    ``centres`` are frequencies (typically the strongest periodogram peaks);
    the result is sorted, unique and inside the grid.
    """
    targets = np.concatenate([centres / 2, centres, centres * 2])
    index = np.rint((targets - grid.f_min) / grid.df).astype(np.int64)
    offsets = np.arange(-refine_steps, refine_steps + 1)
    index = np.unique((index[:, None] + offsets[None, :]).ravel())
    index = index[(index >= 0) & (index < grid.n)]
    return grid.f_min + grid.df * index


def best_minima(
    frequencies: np.ndarray, statistic: np.ndarray, count: int, separation: float
) -> list[int]:
    """Indices of the ``count`` lowest values at least ``separation`` apart."""
    chosen: list[int] = []
    for i in np.argsort(statistic, kind="stable"):
        if all(abs(frequencies[i] - frequencies[j]) > separation for j in chosen):
            chosen.append(int(i))
        if len(chosen) == count:
            break
    return chosen


def pdm_normal_score(theta: np.ndarray, n_points: int, n_bins: int) -> np.ndarray:
    """Normal score of phase dispersion ``θ`` under white Gaussian noise.

    ``θ`` maps to the one-way analysis-of-variance ratio
    ``F = (N − M) / (M − 1) · ((N − 1) / ((N − M) θ) − 1)``, which for white
    Gaussian noise follows ``F(M − 1, N − M)`` (Schwarzenberg-Czerny 1989,
    MNRAS 241, 153, doi:10.1093/mnras/241.2.153); the score is
    ``Φ⁻¹(P(F' ≥ F))``, negative for significant minima. Empty bins are
    neglected (``N ≫ M``).
    """
    theta = np.maximum(np.asarray(theta, dtype=float), 1e-12)
    ratio = (n_points - 1) / ((n_points - n_bins) * theta) - 1.0
    statistic = (n_points - n_bins) / (n_bins - 1) * np.maximum(ratio, 0.0)
    return _normal_score(special.fdtrc(n_bins - 1, n_points - n_bins, statistic))


def entropy_normal_score(
    entropy: np.ndarray, mag: np.ndarray, n_phase_bins: int, n_mag_bins: int
) -> np.ndarray:
    """Normal score of conditional entropy ``H`` under independence.

    ``H(m) − H`` is the mutual information of phase and magnitude bins, so
    ``G = 2N (H(m) − H)`` is the G-test statistic of independence, about
    ``χ²`` with ``(P − 1)(Q − 1)`` degrees of freedom (Sokal & Rohlf 1995,
    *Biometry*, ch. 17); the score is ``Φ⁻¹(P(χ² ≥ G))``.
    """
    scaled = (mag - mag.min()) / (mag.max() - mag.min())
    mag_bin = np.minimum((scaled * n_mag_bins).astype(np.intp), n_mag_bins - 1)
    share = np.bincount(mag_bin, minlength=n_mag_bins) / mag.size
    share = share[share > 0]
    marginal = -np.sum(share * np.log(share))
    statistic = 2 * mag.size * np.maximum(marginal - np.asarray(entropy), 0.0)
    dof = (n_phase_bins - 1) * (n_mag_bins - 1)
    return _normal_score(special.chdtrc(dof, statistic))


def _normal_score(p: np.ndarray) -> np.ndarray:
    """``Φ⁻¹(p)``; ``−∞`` where ``p`` underflows to 0 (FAP then 0)."""
    return special.ndtri(np.clip(p, 0.0, 1.0))


def calibrated_fap(
    observed: np.ndarray, null: np.ndarray, grid: FrequencyGrid
) -> np.ndarray:
    """False-alarm probability of normal scores, calibrated on shuffled trials.

    ``observed`` and ``null`` are normal scores (see :func:`pdm_normal_score`
    and :func:`entropy_normal_score`); ``null`` comes from the same light
    curve with shuffled magnitudes, which keeps the magnitude distribution
    and the sampling but removes any signal. With its mean ``μ`` and standard
    deviation ``s`` (0 and 1 for white Gaussian noise), the single-frequency
    probability is ``p = Φ((z − μ) / s)`` and, over ``N_eff`` independent
    frequencies, ``FAP = 1 − (1 − p)^N_eff``.
    """
    null = null[np.isfinite(null)]
    spread = np.std(null)
    if null.size < 2 or not spread > 0:
        return np.full(np.shape(observed), np.nan)
    log_p = log_ndtr((np.asarray(observed) - np.mean(null)) / spread)
    p = np.exp(log_p)
    return np.clip(-np.expm1(grid.independent_frequencies * np.log1p(-p)), 0.0, 1.0)


def alias_flags(frequency: float, period: dict) -> list[str]:
    """Names of the known spurious periods that ``1 / frequency`` is close to.

    A period within ``alias_tolerance`` (relative) of a sampling period in
    ``alias_periods`` (sidereal/solar day, half day, lunar month, year) is
    flagged ``alias_<name>``.
    """
    candidate = 1.0 / frequency
    tolerance = float(period["alias_tolerance"])
    return [
        f"alias_{name}"
        for name, days in period["alias_periods"].items()
        if abs(candidate - days) <= tolerance * days
    ]


def harmonic_flags(frequency: float, best: float, period: dict) -> list[str]:
    """``harmonic_<n>/<k>`` when ``frequency / best`` is close to ``n / k``.

    ``n, k ≤ max_harmonic``, ratio not 1; closeness is ``alias_tolerance``
    relative. Also ``sidelobe_<name>`` when the two frequencies differ by
    ``1 / P`` for a sampling period ``P`` in ``alias_periods``.
    """
    tolerance = float(period["alias_tolerance"])
    ratio = frequency / best
    flags = [
        f"harmonic_{n}/{k}"
        for n, k in _harmonic_ratios(int(period["max_harmonic"]))
        if abs(ratio - n / k) <= tolerance * n / k
    ]
    for name, days in period["alias_periods"].items():
        if abs(abs(frequency - best) - 1.0 / days) <= tolerance / days:
            flags.append(f"sidelobe_{name}")
    return flags


@lru_cache(maxsize=4)
def _harmonic_ratios(top: int) -> tuple[tuple[int, int], ...]:
    """Pairs ``(n, k)``, ``n ≠ k``, ``n, k ≤ top``, without common factor."""
    pairs = itertools.product(range(1, top + 1), repeat=2)
    return tuple((n, k) for n, k in pairs if n != k and math.gcd(n, k) == 1)


def _flag_peaks(peaks: list[Peak], period: dict) -> list[Peak]:
    """Attach alias and harmonic flags to a method's ranked peaks."""
    for rank, peak in enumerate(peaks):
        peak.flags = alias_flags(peak.frequency, period)
        if rank:
            peak.flags += harmonic_flags(peak.frequency, peaks[0].frequency, period)
    return peaks


# --------------------------------------------------------------------------- #
# Search of one band
# --------------------------------------------------------------------------- #
def search_band(
    time: np.ndarray,
    mag: np.ndarray,
    mag_err: np.ndarray,
    period: dict,
    rng: np.random.Generator,
    grid: FrequencyGrid | None = None,
) -> BandSearch:
    """Best ``n_peaks`` periods of each method in :data:`METHODS`, with FAPs.

    ``time`` must be sorted and distinct, errors positive (see
    ``varsky.features.band_problem``). ``grid`` defaults to
    :func:`frequency_grid` of the band's own time span; pass a common grid to
    compare or combine bands.
    """
    time = time - time[0]
    grid = grid or frequency_grid(time[-1], period)
    count = int(period["n_peaks"])

    power = LOMB_SCARGLE_BACKENDS[period["backend"]](time, mag, mag_err, grid)
    top = local_maxima(power, max(int(period["n_candidates"]), count))
    ls_peaks = [Peak("lomb_scargle", grid.f_min + grid.df * i, power[i]) for i in top]
    ls_peaks = ls_peaks[:count]
    faps = lomb_scargle_fap([p.statistic for p in ls_peaks], time, mag, mag_err, grid)
    for peak, fap in zip(ls_peaks, faps, strict=True):
        peak.fap = float(fap)

    centres = grid.f_min + grid.df * top
    if period["search"] == "full":
        trial = grid.frequencies
    else:
        trial = candidate_frequencies(grid, centres, int(period["refine_steps"]))
    separation = grid.df * float(period["oversampling"])
    n_bins = int(period["pdm_bins"])
    n_phase, n_mag = int(period["ce_phase_bins"]), int(period["ce_mag_bins"])
    statistics = {
        "pdm": lambda m, f: phase_dispersion(time, m, f, n_bins),
        "conditional_entropy": lambda m, f: conditional_entropy(
            time, m, f, n_phase, n_mag
        ),
    }
    scores = {
        "pdm": lambda values: pdm_normal_score(values, mag.size, n_bins),
        "conditional_entropy": lambda values: entropy_normal_score(
            values, mag, n_phase, n_mag
        ),
    }
    shuffles = np.array(
        [rng.permutation(mag) for _ in range(int(period["fap_trials"]))]
    )

    peaks = {"lomb_scargle": _flag_peaks(ls_peaks, period)}
    for method, statistic in statistics.items():
        values = statistic(mag, trial)
        best = best_minima(trial, values, count, separation)
        null = scores[method](statistic(shuffles, centres).ravel())
        faps = calibrated_fap(scores[method](values[best]), null, grid)
        found = [
            Peak(method, trial[i], values[i], float(fap))
            for i, fap in zip(best, faps, strict=True)
        ]
        peaks[method] = _flag_peaks(found, period)
    return BandSearch(grid, peaks, power, time, mag, mag_err)


def best_lomb_scargle_period(
    time: np.ndarray, mag: np.ndarray, mag_err: np.ndarray, period: dict
) -> tuple[float, float]:
    """Period (days) and power of the highest Lomb-Scargle peak on the grid."""
    period = {**DEFAULT_PERIOD_PARAMS, **period}
    grid = frequency_grid(time[-1] - time[0], period)
    power = LOMB_SCARGLE_BACKENDS[period["backend"]](time - time[0], mag, mag_err, grid)
    best = int(np.argmax(power))
    return 1.0 / (grid.f_min + grid.df * best), float(power[best])


# --------------------------------------------------------------------------- #
# One period per star
# --------------------------------------------------------------------------- #
@dataclass
class ChosenPeriod:
    """The period adopted for a star, the method that gave it and its FAP."""

    period: float = np.nan
    method: str = ""
    fap: float = np.nan
    flags: list[str] = field(default_factory=list)
    alias_period: float = np.nan
    alias_delta_chi2: float = np.nan


def folded_dispersion_ratio(
    time: np.ndarray, mag: np.ndarray, frequency: float, n_bins: int
) -> float:
    """``θ(2P; 2M bins) / θ(P; M bins)``: does doubling the period fold better?

    Folding a ``P``-periodic curve at ``2P`` with twice the bins puts the same
    number of points per phase interval of the true curve, so the ratio is
    about 1; for an eclipsing binary with unequal minima found at half its
    period, the two minima separate at ``2P`` and the ratio falls below 1.
    """
    single = phase_dispersion(time, mag, np.array([frequency]), n_bins)[0]
    double = phase_dispersion(time, mag, np.array([frequency / 2]), 2 * n_bins)[0]
    return double / single if single > 0 else np.nan


def combined_power(searches: dict[str, BandSearch]) -> np.ndarray:
    """Mean of the bands' Lomb-Scargle powers on their common grid."""
    return np.mean([search.power for search in searches.values()], axis=0)


def _combined_peak(searches: dict[str, BandSearch], period: dict) -> Peak:
    """Highest peak of :func:`combined_power`, with its alias flags.

    Its FAP is the smallest Baluev FAP among the bands at that frequency.
    Peaks near sampling periods are flagged, not skipped: real variables do
    have periods near a day (the EROS-1 reference periods include several).
    """
    grid = next(iter(searches.values())).grid
    power = combined_power(searches)
    pick = int(np.argmax(power))
    frequency = grid.f_min + grid.df * pick

    faps = [
        lomb_scargle_fap([s.power[pick]], s.time, s.mag, s.mag_err, grid)[0]
        for s in searches.values()
    ]
    peak = Peak("lomb_scargle", frequency, float(power[pick]), float(np.min(faps)))
    peak.flags = alias_flags(frequency, period)
    return peak


def _doubles(searches: dict[str, BandSearch], peak: Peak, period: dict) -> bool:
    """Whether twice the period folds better (mean over bands), if it can tell.

    Only tried when the baseline holds at least ``double_min_cycles`` cycles
    of ``2P``; fewer cycles make the comparison noisy (long-period variables).
    """
    baseline = min(s.time[-1] for s in searches.values())
    if baseline * peak.frequency / 2 < float(period["double_min_cycles"]):
        return False
    ratio = np.mean(
        [
            folded_dispersion_ratio(
                s.time, s.mag, peak.frequency, int(period["pdm_bins"])
            )
            for s in searches.values()
        ]
    )
    return bool(ratio < float(period["double_period_ratio"]))


def choose_period(searches: dict[str, BandSearch], period: dict) -> ChosenPeriod:
    """One period per star from the per-band searches on a common grid.

    1. The highest peak of the bands' mean Lomb-Scargle power, flagged if
       near a sampling period (:func:`alias_flags`), with the FAP of the most
       significant band.
    2. If folding at twice that period lowers the phase dispersion to below
       ``double_period_ratio`` of its value (:func:`folded_dispersion_ratio`,
       averaged over bands), twice the period is adopted, method
       ``lomb_scargle_doubled``: eclipsing binaries with near-equal minima.
    3. If the periodogram peak is not significant (FAP above
       ``fap_threshold``) but the best phase-dispersion or conditional-entropy
       peak of some band has a smaller FAP, that peak is adopted instead.
    4. The period is compared with its sampling aliases
       (:func:`check_aliases`); with ``alias_choice: chi2`` an alias whose
       multi-harmonic fit has the lower χ² replaces it (method suffix
       ``+alias``), and the replaced period becomes ``alias_period`` with a
       positive ``alias_delta_chi2``.
    """
    if not searches:
        return ChosenPeriod()
    peak = _combined_peak(searches, period)
    chosen = ChosenPeriod(1.0 / peak.frequency, "lomb_scargle", peak.fap, peak.flags)
    if _doubles(searches, peak, period):
        chosen.period, chosen.method = 2.0 / peak.frequency, "lomb_scargle_doubled"

    if chosen.fap > float(period["fap_threshold"]):
        others = [
            search.peaks[method][0]
            for search in searches.values()
            for method in ("pdm", "conditional_entropy")
            if search.peaks.get(method)
        ]
        others = [p for p in others if np.isfinite(p.fap) and p.fap < chosen.fap]
        if others:
            best = min(others, key=lambda p: p.fap)
            chosen = ChosenPeriod(best.period, best.method, best.fap, best.flags)

    check = check_aliases(searches, 1.0 / chosen.period, period)
    if period["alias_choice"] == "chi2" and check.delta_chi2 < 0:
        replaced = chosen.period
        chosen.period, chosen.method = check.period, chosen.method + "+alias"
        chosen.flags = alias_flags(1.0 / check.period, period)
        check = AliasCheck(replaced, -check.delta_chi2)
    chosen.alias_period, chosen.alias_delta_chi2 = check.period, check.delta_chi2
    return chosen


# --------------------------------------------------------------------------- #
# Sampling aliases of the adopted period
# --------------------------------------------------------------------------- #
def harmonic_chi2(
    time: np.ndarray,
    mag: np.ndarray,
    mag_err: np.ndarray,
    frequency: float,
    n_harmonics: int,
) -> float:
    """χ² of the weighted least-squares fit of a Fourier series at ``frequency``.

    The model is ``A₀ + Σ_{k=1}^{n} (a_k cos 2πkft + b_k sin 2πkft)``; the
    residuals are weighted by ``1 / σ_i``.
    """
    angle = np.multiply.outer(
        2 * np.pi * frequency * time, np.arange(1, n_harmonics + 1)
    )
    design = np.hstack([np.ones((time.size, 1)), np.cos(angle), np.sin(angle)])
    design = design / mag_err[:, None]
    target = mag / mag_err
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    residual = target - design @ coef
    return float(residual @ residual)


@dataclass
class AliasCheck:
    """The strongest sampling alias of an adopted period.

    ``delta_chi2 = χ²(alias) − χ²(adopted)``, summed over bands, for
    Fourier series of ``alias_harmonics`` terms: positive when the light
    curves prefer the adopted period, near zero when they cannot tell the
    two apart.
    """

    period: float = np.nan
    delta_chi2: float = np.nan


def check_aliases(
    searches: dict[str, BandSearch], frequency: float, period: dict
) -> AliasCheck:
    """Compare the adopted ``frequency`` with its sampling aliases.

    A survey that observes a field once a night at about the same sidereal
    time cannot tell a frequency ``f`` from ``f ± k·f_s``, with ``f_s`` the
    sampling frequency (``alias_frequency``, by default one sidereal day⁻¹,
    1.0027379 d⁻¹): the spectral window has its side lobes there (Deeming
    1975, Ap&SS 36, 137, doi:10.1007/BF00681947; VanderPlas 2018, ApJS 236,
    16, doi:10.3847/1538-4365/aab766, sect. 7.2). For ``k = ±1 … ±alias_orders``
    the alias is placed on the highest mean Lomb-Scargle power within one
    peak width of ``|f + k·f_s|`` (the absolute value folds the image of a
    low frequency back, so a long-period variable seen at about one day is
    compared with its true period); candidates within two peak widths of
    ``f`` are skipped. The alias whose multi-harmonic fit of all bands has
    the lowest χ² is returned with its χ² difference from ``f``.
    Non-sinusoidal curves (RR Lyrae, eclipses) carry most of the
    information that separates the two.
    """
    if not searches or not (np.isfinite(frequency) and frequency > 0):
        return AliasCheck()
    grid = next(iter(searches.values())).grid
    power = combined_power(searches)
    width = math.ceil(float(period["oversampling"]) / 2)
    n_harmonics = int(period["alias_harmonics"])
    spacing = float(period["alias_frequency"])

    def chi2(f: float) -> float:
        return sum(
            harmonic_chi2(s.time, s.mag, s.mag_err, f, n_harmonics)
            for s in searches.values()
        )

    best = AliasCheck()
    best_chi2 = np.inf
    orders = range(1, int(period["alias_orders"]) + 1)
    for shift in (sign * k * spacing for k in orders for sign in (-1, 1)):
        # a real signal's negative-frequency image aliases to |f − k·f_s|
        target = abs(frequency + shift)
        if abs(target - frequency) <= 2 * width * grid.df:
            continue
        centre = round((target - grid.f_min) / grid.df)
        low, high = max(centre - width, 0), min(centre + width, grid.n - 1)
        if low > high:
            continue
        alias = grid.f_min + grid.df * (low + int(np.argmax(power[low : high + 1])))
        value = chi2(alias)
        if value < best_chi2:
            best, best_chi2 = AliasCheck(1.0 / alias, value), value
    if np.isfinite(best_chi2):
        best.delta_chi2 = best_chi2 - chi2(frequency)
    return best


def period_recovery(
    found: pd.Series,
    reference: pd.Series,
    classes: pd.Series,
    tol: float = 0.01,
    alias_frequency: float = DEFAULT_PERIOD_PARAMS["alias_frequency"],
    alias_orders: int = DEFAULT_PERIOD_PARAMS["alias_orders"],
) -> pd.DataFrame:
    """Fraction of stars per class whose period matches a reference.

    A period matches when ``|found − reference| ≤ tol × reference``; the
    columns give the fraction matching the reference (``exact``), half of it
    (``half``), twice it (``double``), a sampling alias of it (``alias``:
    ``1 / (1/reference ± k·alias_frequency)`` for ``k ≤ alias_orders``), any
    of these (``any``), and the number of stars (``n``). The three series are
    aligned on their index; stars without a found period count as misses.
    """
    table = pd.DataFrame({"found": found, "reference": reference, "class": classes})
    table = table.dropna(subset=["reference", "class"])
    table = table[table["reference"] > 0]
    matches = recovery_matches(
        table["found"], table["reference"], tol, alias_frequency, alias_orders
    )
    summary = matches.groupby(table["class"]).mean()
    summary["n"] = table.groupby("class").size()
    return summary


def recovery_matches(
    found: pd.Series,
    reference: pd.Series,
    tol: float,
    alias_frequency: float,
    alias_orders: int,
) -> pd.DataFrame:
    """Per star, which of the relations of :func:`period_recovery` hold."""

    def close(target: pd.Series) -> pd.Series:
        return (found - target).abs() <= tol * target

    matches = pd.DataFrame(
        {
            "exact": close(reference),
            "half": close(0.5 * reference),
            "double": close(2.0 * reference),
        }
    )
    alias = pd.Series(False, index=reference.index)
    for k in range(1, int(alias_orders) + 1):
        for sign in (-1, 1):
            shifted = 1.0 / reference + sign * k * float(alias_frequency)
            target = (1.0 / shifted).where(shifted > 0)
            alias |= close(target).fillna(False).astype(bool)
    matches["alias"] = alias & ~matches["exact"]
    matches["any"] = matches.any(axis=1)
    return matches


def recovery_table(
    features: pd.DataFrame, labels: pd.DataFrame, tol: float, period: dict
) -> pd.DataFrame:
    """:func:`period_recovery` of a feature table against its labels table.

    One row per class and one for every star (``all``): ``class_name``,
    ``n`` and the fractions ``exact``, ``half``, ``double``, ``alias`` and
    ``any``, with ``tolerance``. Only stars with a finite, positive
    ``reference_period`` count.
    """
    period = {**DEFAULT_PERIOD_PARAMS, **period}
    table = labels[["source_id", "class_name", "reference_period"]].merge(
        features[["source_id", "period"]], on="source_id", how="left"
    )
    table = table[np.isfinite(table["reference_period"].astype(float))]
    args = (tol, period["alias_frequency"], period["alias_orders"])
    per_class = period_recovery(
        table["period"], table["reference_period"], table["class_name"], *args
    )
    overall = period_recovery(
        table["period"], table["reference_period"], pd.Series("all", table.index), *args
    )
    summary = pd.concat([per_class, overall]).rename_axis("class_name").reset_index()
    summary["tolerance"] = tol
    return summary[
        ["class_name", "n", "exact", "half", "double", "alias", "any", "tolerance"]
    ]
