"""Simulated light curves of variable stars, for scale tests and missing classes.

Everything this module produces is *simulated*, not observed. A simulated
dataset (``format: simulated`` in the config) is generated at ingest, one shard
at a time, so that memory does not grow with the number of stars; shard ``k``
is drawn from its own random generator seeded with ``(seed, k)``, so a shard's
stars do not depend on how many shards there are or in which order they are
made.

Each star gets

* a survey-like irregular cadence: a Poisson-distributed number of epochs
  (mean ``n_epochs``) drawn uniformly within yearly observing seasons of
  ``season_days`` over ``baseline_days``, shared by all bands, as in EROS-1;
* a class, drawn with probabilities ``class_fractions``, and a light-curve
  shape of that class (see :data:`CLASSES`), with an amplitude larger in the
  bluer bands;
* a mean magnitude uniform in ``mag_range`` and photometric errors from the
  LSST error model of Ivezić et al. (2019, ApJ 873, 111, eq. 5),
  ``σ² = σ_sys² + (0.04 − γ) x + γ x²`` with ``x = 10^{0.4 (m − m5)}`` and
  ``γ = 0.039``, where ``m5`` is ``limiting_mag`` and ``σ_sys`` is
  ``error_floor``; the observed magnitude is the true one plus a Gaussian draw
  of that ``σ``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from varsky import io

log = logging.getLogger(__name__)

#: Simulated classes, in a fixed order (the order of the draws).
CLASSES = (
    "rr_lyrae",
    "cepheid",
    "eclipsing_binary",
    "long_period_variable",
    "stochastic",
    "constant",
)

#: γ of the LSST photometric error model (Ivezić et al. 2019, table 2).
ERROR_MODEL_GAMMA = 0.039

#: Days per year, for the observing seasons.
YEAR_DAYS = 365.25

#: Amplitude ratio between neighbouring bands, bluer over redder: pulsators
#: and eclipses are larger in the blue.
BLUE_AMPLITUDE_RATIO = 1.3

#: Mean colour (bluer minus redder magnitude) between neighbouring bands.
MEAN_COLOUR = 0.4


@dataclass(frozen=True)
class Simulation:
    """Settings of a simulated dataset (``data.<name>.simulation`` in the config)."""

    n_stars: int
    n_epochs: int
    baseline_days: float
    season_days: float
    mag_range: tuple[float, float]
    limiting_mag: float
    error_floor: float
    class_fractions: dict[str, float]
    bands: tuple[str, ...]

    @classmethod
    def from_spec(cls, spec: dict) -> Simulation:
        """Build from a validated dataset spec (its ``simulation`` and ``bands``)."""
        sim = spec["simulation"]
        unknown = set(sim["class_fractions"]) - set(CLASSES)
        if unknown:
            raise ValueError(
                f"simulation class_fractions: unknown classes {sorted(unknown)}; "
                f"known: {', '.join(CLASSES)}"
            )
        return cls(
            n_stars=int(sim["n_stars"]),
            n_epochs=int(sim["n_epochs"]),
            baseline_days=float(sim["baseline_days"]),
            season_days=float(sim["season_days"]),
            mag_range=tuple(sim["mag_range"]),
            limiting_mag=float(sim["limiting_mag"]),
            error_floor=float(sim["error_floor"]),
            class_fractions=dict(sim["class_fractions"]),
            bands=tuple(spec["bands"]),
        )

    def class_probabilities(self) -> np.ndarray:
        """Probability of each class of :data:`CLASSES`, summing to one."""
        shares = np.array([self.class_fractions.get(c, 0.0) for c in CLASSES])
        return shares / shares.sum()


# --------------------------------------------------------------------------- #
# Cadence and errors
# --------------------------------------------------------------------------- #
def survey_cadence(
    rng: np.random.Generator, n_epochs: int, baseline_days: float, season_days: float
) -> np.ndarray:
    """Sorted epochs (days) spread uniformly over the observing seasons.

    Seasons start every :data:`YEAR_DAYS` and last ``season_days``; the
    baseline is cut to ``baseline_days``. An epoch is a uniform draw of the
    observable time, mapped back onto the calendar.
    """
    full_years, rest = divmod(baseline_days, YEAR_DAYS)
    observable = full_years * season_days + min(rest, season_days)
    u = np.sort(rng.uniform(0.0, observable, n_epochs))
    season, within = np.divmod(u, season_days)
    return season * YEAR_DAYS + within


def magnitude_error(
    mag: np.ndarray, limiting_mag: float, error_floor: float
) -> np.ndarray:
    """Photometric error (mag) of the LSST model, Ivezić et al. 2019, eq. 5.

    ``σ = sqrt(σ_sys² + (0.04 − γ) x + γ x²)``, ``x = 10^{0.4 (m − m5)}``.
    At ``m = m5`` the random part is ``sqrt(0.04) = 0.2`` mag, a 5σ detection.
    """
    x = 10.0 ** (0.4 * (np.asarray(mag) - limiting_mag))
    gamma = ERROR_MODEL_GAMMA
    return np.sqrt(error_floor**2 + (0.04 - gamma) * x + gamma * x**2)


# --------------------------------------------------------------------------- #
# Light-curve shapes: magnitude offsets from the mean, fainter is positive
# --------------------------------------------------------------------------- #
def fourier_series(
    phase: np.ndarray, amplitudes: np.ndarray, phases: np.ndarray
) -> np.ndarray:
    """``Σ_k A_k cos(2π k φ + φ_k)`` for ``k = 1 .. len(amplitudes)``."""
    k = np.arange(1, len(amplitudes) + 1)[:, None]
    return (amplitudes[:, None] * np.cos(2 * np.pi * k * phase + phases[:, None])).sum(
        axis=0
    )


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _pulsator(
    rng: np.random.Generator,
    t: np.ndarray,
    periods: tuple[float, float],
    amplitude: tuple[float, float],
    r21: tuple[float, float],
) -> tuple[np.ndarray, float]:
    """A skewed Fourier shape with amplitude ratios ``A_k = A_1 R21^{k-1}``.

    Phase differences ``φ_k = k φ_1 − (k − 1) π / 2`` give the fast rise and
    slow decline of fundamental-mode pulsators (Simon & Lee 1981, ApJ 248,
    291, describe such shapes by their R21 and φ21).
    """
    period = _log_uniform(rng, *periods)
    ratio = rng.uniform(*r21)
    k = np.arange(1, 5)
    amplitudes = ratio ** (k - 1.0)
    phases = k * rng.uniform(0, 2 * np.pi) - (k - 1) * np.pi / 2
    shape = fourier_series(t / period, amplitudes, phases)
    peak_to_peak = rng.uniform(*amplitude)
    span = np.ptp(fourier_series(np.linspace(0, 1, 200), amplitudes, phases))
    return shape * peak_to_peak / max(span, 1e-9), period


def rr_lyrae(rng: np.random.Generator, t: np.ndarray) -> tuple[np.ndarray, float]:
    """RR Lyrae-like: P 0.3–0.9 d, 0.3–1.2 mag, strongly skewed (R21 0.4–0.55)."""
    return _pulsator(rng, t, (0.3, 0.9), (0.3, 1.2), (0.4, 0.55))


def cepheid(rng: np.random.Generator, t: np.ndarray) -> tuple[np.ndarray, float]:
    """Classical Cepheid-like: P 2–50 d, 0.2–1.0 mag, R21 0.25–0.45."""
    return _pulsator(rng, t, (2.0, 50.0), (0.2, 1.0), (0.25, 0.45))


def eclipsing_binary(
    rng: np.random.Generator, t: np.ndarray
) -> tuple[np.ndarray, float]:
    """Detached binary: P 0.5–20 d, Gaussian eclipses at phases 0 and 0.5.

    Primary depth 0.1–1.0 mag, secondary 5–100 % of it, eclipse width (σ in
    phase) 0.01–0.05, plus a weak ellipsoidal ``cos 4πφ`` term.
    """
    period = _log_uniform(rng, 0.5, 20.0)
    phase = (t / period + rng.uniform()) % 1.0
    depth = rng.uniform(0.1, 1.0)
    secondary = depth * rng.uniform(0.05, 1.0)
    width = rng.uniform(0.01, 0.05)
    to_primary = np.minimum(phase, 1.0 - phase)
    to_secondary = np.abs(phase - 0.5)
    shape = depth * np.exp(-0.5 * (to_primary / width) ** 2) + secondary * np.exp(
        -0.5 * (to_secondary / width) ** 2
    )
    shape -= rng.uniform(0.0, 0.05) * np.cos(4 * np.pi * phase)
    return shape, period


def long_period_variable(
    rng: np.random.Generator, t: np.ndarray
) -> tuple[np.ndarray, float]:
    """Mira-like: P 100–600 d, 1–5 mag, one harmonic, a slow linear drift."""
    period = _log_uniform(rng, 100.0, 600.0)
    amplitudes = np.array([1.0, rng.uniform(0.05, 0.2)])
    shape = fourier_series(t / period, amplitudes, rng.uniform(0, 2 * np.pi, 2))
    drift = rng.normal(0.0, 1e-4) * (t - t.mean())
    return shape * rng.uniform(1.0, 5.0) / 2.0 + drift, period


def damped_random_walk(
    rng: np.random.Generator, t: np.ndarray, tau: float, sigma: float
) -> np.ndarray:
    """Damped random walk (Ornstein–Uhlenbeck) sampled exactly at times ``t``.

    ``x_i = x_{i−1} e^{−Δt/τ} + N(0, σ² (1 − e^{−2Δt/τ}))``, started from the
    stationary ``N(0, σ²)`` (Kelly, Bechtold & Siemiginowska 2009, ApJ 698,
    895); ``σ`` is the long-term rms and ``τ`` the damping time.
    """
    decay = np.exp(-np.diff(t) / tau)
    steps = rng.normal(0.0, 1.0, len(t)) * sigma
    steps[1:] *= np.sqrt(1.0 - decay**2)
    x = np.empty(len(t))
    x[0] = steps[0]
    for i in range(1, len(t)):
        x[i] = x[i - 1] * decay[i - 1] + steps[i]
    return x


def stochastic(rng: np.random.Generator, t: np.ndarray) -> tuple[np.ndarray, float]:
    """Aperiodic variable: a damped random walk, τ 10–300 d, rms 0.05–0.4 mag."""
    tau = _log_uniform(rng, 10.0, 300.0)
    return damped_random_walk(rng, t, tau, rng.uniform(0.05, 0.4)), math.nan


def constant(rng: np.random.Generator, t: np.ndarray) -> tuple[np.ndarray, float]:
    """A non-variable star: only photometric noise."""
    return np.zeros(len(t)), math.nan


#: Class name to its shape generator ``(rng, t) -> (offsets in mag, period)``.
SHAPES = {
    "rr_lyrae": rr_lyrae,
    "cepheid": cepheid,
    "eclipsing_binary": eclipsing_binary,
    "long_period_variable": long_period_variable,
    "stochastic": stochastic,
    "constant": constant,
}


# --------------------------------------------------------------------------- #
# Stars and shards
# --------------------------------------------------------------------------- #
def source_id(index: int) -> str:
    """Identifier of simulated star ``index``; sorts in the order of generation."""
    return f"sim-{index:09d}"


def simulate_star(
    rng: np.random.Generator, sim: Simulation, class_name: str
) -> tuple[dict[str, np.ndarray], float]:
    """One star's observations in every band, as columns, and its true period.

    The columns are ``band`` (index into ``sim.bands``), ``time``, ``mag`` and
    ``mag_err``; the period is NaN for classes without one.
    """
    n = max(int(rng.poisson(sim.n_epochs)), 2)
    t = survey_cadence(rng, n, sim.baseline_days, sim.season_days)
    offsets, period = SHAPES[class_name](rng, t)
    mean_red = rng.uniform(*sim.mag_range)

    n_bands = len(sim.bands)
    redder = (n_bands - 1 - np.arange(n_bands))[:, None]
    true = mean_red + MEAN_COLOUR * redder + offsets * BLUE_AMPLITUDE_RATIO**redder
    err = magnitude_error(true, sim.limiting_mag, sim.error_floor)
    observed = true + rng.normal(0.0, 1.0, true.shape) * err
    columns = {
        "band": np.repeat(np.arange(n_bands), n),
        "time": np.tile(t, n_bands),
        "mag": observed.ravel(),
        "mag_err": err.ravel(),
    }
    return columns, period


def simulate_stars(
    sim: Simulation, first: int, last: int, *, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tidy light curves and labels of stars ``first`` to ``last`` (exclusive).

    Star ``i`` is drawn from its own generator seeded with ``(seed, i)``: its
    class, cadence and light curve do not depend on the shard size or on how
    many stars are simulated. Every star is in the ``train`` split; ingest
    draws the hold-out as for any dataset without a test split.
    """
    if not 0 <= first < last:
        raise ValueError(f"no stars to simulate from {first} to {last}")
    probabilities = sim.class_probabilities()
    ids = [source_id(i) for i in range(first, last)]
    columns: dict[str, list[np.ndarray]] = {}
    classes, periods, counts = [], [], []
    for index in range(first, last):
        rng = np.random.default_rng([seed, index])
        class_name = CLASSES[rng.choice(len(CLASSES), p=probabilities)]
        star, period = simulate_star(rng, sim, class_name)
        for name, values in star.items():
            columns.setdefault(name, []).append(values)
        classes.append(class_name)
        periods.append(period)
        counts.append(len(star["time"]))

    bands = np.asarray(sim.bands, dtype=object)
    observations = pd.DataFrame(
        {
            "source_id": np.repeat(np.asarray(ids, dtype=object), counts),
            "band": bands[np.concatenate(columns["band"])],
            **{k: np.concatenate(columns[k]) for k in ("time", "mag", "mag_err")},
            "flags": 0,
        }
    )
    labels = pd.DataFrame(
        {
            "source_id": ids,
            "class_name": classes,
            "split": "train",
            "reference_period": np.array(periods, dtype="float64"),
        }
    )
    return io.to_tidy(observations), labels


def n_shards(n_stars: int, shard_size: int) -> int:
    """Number of shards of ``shard_size`` stars holding ``n_stars``."""
    return -(-n_stars // shard_size)


def iter_simulated_shards(
    spec: dict, *, shard_size: int, seed: int
) -> Iterator[tuple[str, pd.DataFrame, pd.DataFrame]]:
    """Yield ``(shard name, tidy light curves, labels)`` one shard at a time.

    Only one shard's light curves are in memory at once, whatever ``n_stars``.
    """
    sim = Simulation.from_spec(spec)
    for k in range(n_shards(sim.n_stars, shard_size)):
        started = time.perf_counter()
        first = k * shard_size
        last = min(first + shard_size, sim.n_stars)
        lightcurves, labels = simulate_stars(sim, first, last, seed=seed)
        log.info(
            "%s: simulated %d stars, %d observations in %.2f s",
            io.shard_name(k),
            len(labels),
            len(lightcurves),
            time.perf_counter() - started,
        )
        yield io.shard_name(k), lightcurves, labels


def read_simulated(
    source_dir: Path, manifest: dict, spec: dict
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reader of the ``simulated`` format: every star at once (small datasets).

    Nothing is read from ``source_dir``; the seed is the one the download
    stage recorded in ``manifest``. Ingest uses :func:`iter_simulated_shards`
    instead, which gives the same stars one shard at a time.
    """
    sim = Simulation.from_spec(spec)
    return simulate_stars(sim, 0, sim.n_stars, seed=manifest["seed"])
