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
the other two, the statistic's distribution under no signal is estimated
from ``fap_trials`` copies of the light curve with shuffled magnitudes
(seeded), pooled over the candidate frequencies and approximated by a normal
distribution; the single-frequency probability ``p`` is then corrected for the
number of independent frequencies searched, ``N_eff = grid size /
oversampling``, as ``FAP = 1 − (1 − p)^N_eff``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import lru_cache

import finufft
import numpy as np
import pandas as pd
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
    "refine_steps": 5,
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
    "double_period_ratio": 0.8,
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
    n_points: int


def period_params(params: dict | None) -> dict:
    """The ``period`` section of the feature parameters, with defaults filled in."""
    merged = dict(DEFAULT_PERIOD_PARAMS)
    merged.update((params or {}).get("period", {}) or {})
    return merged


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


def phase_dispersion(
    time: np.ndarray, mag: np.ndarray, frequencies: np.ndarray, n_bins: int = 10
) -> np.ndarray:
    """Phase dispersion minimisation statistic θ at each frequency.

    Fold at frequency ``f``, split the phase into ``M = n_bins`` equal bins;
    ``θ = [Σ_j Σ_{i∈j} (m_i − m̄_j)² / (N − M')] / [Σ_i (m_i − m̄)² / (N − 1)]``
    with ``M'`` the number of non-empty bins (Stellingwerf 1978, ApJ 224, 953,
    doi:10.1086/156444, eqs. 1-3, one cover). ``θ ≈ 1`` for noise; a smooth
    periodic signal gives a minimum at its period.
    """
    y = mag - mag.mean()
    total = np.sum(y * y) / (y.size - 1)
    result = []
    for chunk in _chunks(np.asarray(frequencies, dtype=float), y.size):
        flat = (
            _phase_bins(time, chunk, n_bins) + n_bins * np.arange(chunk.size)[:, None]
        )
        flat = flat.ravel()
        size = chunk.size * n_bins
        count = np.bincount(flat, minlength=size).reshape(chunk.size, n_bins)
        sum1 = np.bincount(flat, np.tile(y, chunk.size), size).reshape(count.shape)
        sum2 = np.bincount(flat, np.tile(y * y, chunk.size), size).reshape(count.shape)
        within = sum2 - np.divide(
            sum1**2, count, out=np.zeros_like(sum1), where=count > 0
        )
        dof = y.size - np.count_nonzero(count, axis=1)
        result.append(within.sum(axis=1) / np.maximum(dof, 1) / total)
    return np.concatenate(result) if result else np.empty(0)


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
    """
    scaled = (mag - mag.min()) / (mag.max() - mag.min())
    mag_bin = np.minimum((scaled * n_mag_bins).astype(np.intp), n_mag_bins - 1)
    cells = n_phase_bins * n_mag_bins
    result = []
    for chunk in _chunks(np.asarray(frequencies, dtype=float), mag.size):
        phase_bin = _phase_bins(time, chunk, n_phase_bins)
        flat = (phase_bin * n_mag_bins + mag_bin) + cells * np.arange(chunk.size)[
            :, None
        ]
        joint = np.bincount(flat.ravel(), minlength=chunk.size * cells)
        joint = joint.reshape(chunk.size, n_phase_bins, n_mag_bins) / mag.size
        marginal = joint.sum(axis=2, keepdims=True)
        ratio = np.divide(marginal, joint, out=np.ones_like(joint), where=joint > 0)
        result.append(np.sum(joint * np.log(ratio), axis=(1, 2)))
    return np.concatenate(result) if result else np.empty(0)


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


def shuffled_fap(
    observed: np.ndarray,
    null: np.ndarray,
    grid: FrequencyGrid,
) -> np.ndarray:
    """False-alarm probability of minima of a statistic, from shuffled trials.

    ``null`` holds the statistic of magnitude-shuffled light curves (no
    signal). Its mean ``μ`` and standard deviation ``s`` give the
    single-frequency probability ``p = Φ((x − μ) / s)`` of a value at or below
    ``x``; over ``N_eff`` independent frequencies ``FAP = 1 − (1 − p)^N_eff``.
    """
    spread = np.std(null)
    if not spread > 0:
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
    flags = []
    ratio = frequency / best
    top = int(period["max_harmonic"])
    for n in range(1, top + 1):
        for k in range(1, top + 1):
            if n != k and np.gcd(n, k) == 1 and abs(ratio - n / k) <= tolerance * n / k:
                flags.append(f"harmonic_{n}/{k}")
    for name, days in period["alias_periods"].items():
        if abs(abs(frequency - best) - 1.0 / days) <= tolerance / days:
            flags.append(f"sidelobe_{name}")
    return flags


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
) -> BandSearch:
    """Best ``n_peaks`` periods of each method in :data:`METHODS`, with FAPs.

    ``time`` must be sorted and distinct, errors positive (see
    ``varsky.features.band_problem``).
    """
    time = time - time[0]
    grid = frequency_grid(time[-1], period)
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
    statistics = {
        "pdm": lambda m, f: phase_dispersion(time, m, f, int(period["pdm_bins"])),
        "conditional_entropy": lambda m, f: conditional_entropy(
            time, m, f, int(period["ce_phase_bins"]), int(period["ce_mag_bins"])
        ),
    }
    shuffles = [rng.permutation(mag) for _ in range(int(period["fap_trials"]))]

    peaks = {"lomb_scargle": _flag_peaks(ls_peaks, period)}
    for method, statistic in statistics.items():
        values = statistic(mag, trial)
        best = best_minima(trial, values, count, separation)
        null = np.concatenate([statistic(m, centres) for m in shuffles])
        faps = shuffled_fap(values[best], null, grid)
        found = [
            Peak(method, trial[i], values[i], float(fap))
            for i, fap in zip(best, faps, strict=True)
        ]
        peaks[method] = _flag_peaks(found, period)
    return BandSearch(grid=grid, peaks=peaks, n_points=mag.size)


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
    band: str = ""
    flags: list[str] = field(default_factory=list)


def folded_dispersion_ratio(
    time: np.ndarray, mag: np.ndarray, frequency: float, n_bins: int
) -> float:
    """``θ(2P; 2M bins) / θ(P; M bins)``: does doubling the period fold better?

    Folding a ``P``-periodic curve at ``2P`` with twice the bins puts the same
    number of points per phase interval of the true curve, so the ratio is
    about 1; for an eclipsing binary with unequal minima found at half its
    period, the two minima separate at ``2P`` and the ratio falls well below 1.
    """
    single = phase_dispersion(time, mag, np.array([frequency]), n_bins)[0]
    double = phase_dispersion(time, mag, np.array([frequency / 2]), 2 * n_bins)[0]
    return double / single if single > 0 else np.nan


def choose_period(
    searches: dict[str, BandSearch],
    curves: dict[str, tuple[np.ndarray, np.ndarray]],
    period: dict,
) -> ChosenPeriod:
    """One period per star from the per-band searches.

    The Lomb-Scargle peak with the highest power over the bands is taken,
    unless its period is flagged as a sampling alias, in which case the next
    unflagged one is. If folding at twice the period lowers the phase
    dispersion by ``double_period_ratio`` or more (see
    :func:`folded_dispersion_ratio`), twice the period is adopted and the
    method is ``lomb_scargle_doubled``.
    """
    ranked = sorted(
        (
            (peak.statistic, band, peak)
            for band, search in searches.items()
            for peak in search.peaks["lomb_scargle"]
        ),
        key=lambda item: -item[0],
    )
    if not ranked:
        return ChosenPeriod()
    unflagged = [item for item in ranked if not item[2].flags]
    _, band, peak = (unflagged or ranked)[0]

    time, mag = curves[band]
    ratio = folded_dispersion_ratio(time, mag, peak.frequency, int(period["pdm_bins"]))
    if ratio < float(period["double_period_ratio"]):
        return ChosenPeriod(
            2 * peak.period, "lomb_scargle_doubled", peak.fap, band, peak.flags
        )
    return ChosenPeriod(peak.period, "lomb_scargle", peak.fap, band, peak.flags)


def period_recovery(
    found: pd.Series, reference: pd.Series, classes: pd.Series, tol: float = 0.01
) -> pd.DataFrame:
    """Fraction of stars per class whose period matches a reference.

    A period matches when ``|found − reference| ≤ tol × reference``; the
    columns give the fraction matching the reference (``exact``), half of it
    (``half``), twice it (``double``), any of the three (``any``), and the
    number of stars (``n``). The three series are aligned on their index;
    stars without a found period count as misses.
    """
    table = pd.DataFrame({"found": found, "reference": reference, "class": classes})
    table = table.dropna(subset=["reference", "class"])

    def close(factor: float) -> pd.Series:
        target = factor * table["reference"]
        return (table["found"] - target).abs() <= tol * target

    table["exact"] = close(1.0)
    table["half"] = close(0.5)
    table["double"] = close(2.0)
    table["any"] = table["exact"] | table["half"] | table["double"]
    summary = table.groupby("class")[["exact", "half", "double", "any"]].mean()
    summary["n"] = table.groupby("class").size()
    return summary
