"""Frequency grid and period search for single-band light curves.

One grid serves every method: frequencies from ``1 / max_days`` to
``1 / min_days`` in steps of ``1 / (oversampling × baseline)``, where the
baseline is the time span of the light curve searched. The step makes each
periodogram peak (of width about ``1 / baseline``) be sampled ``oversampling``
times.

The Lomb-Scargle periodogram (Lomb 1976, Ap&SS 39, 447,
doi:10.1007/BF00648343; Scargle 1982, ApJ 263, 835, doi:10.1086/160554) in
its floating-mean, error-weighted form (Zechmeister & Kürster 2009, A&A 496,
577, doi:10.1051/0004-6361:200811296) is computed with nifty-ls (Garrison et
al. 2024, doi:10.21105/astro.2409.08090) or, as a cross-check, astropy.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import nifty_ls
import numpy as np

log = logging.getLogger(__name__)

DEFAULT_PERIOD_PARAMS = {
    "min_days": 0.1,
    "max_days": 1000.0,
    "oversampling": 5,
}


@dataclass(frozen=True)
class FrequencyGrid:
    """A uniform frequency grid ``f_k = f_min + k·df`` for ``k < n`` (1/day)."""

    f_min: float
    df: float
    n: int

    @property
    def frequencies(self) -> np.ndarray:
        """The grid as an array, in cycles per day."""
        return self.f_min + self.df * np.arange(self.n)


def period_params(params: dict | None) -> dict:
    """The ``period`` section of the feature parameters, with defaults filled in."""
    merged = dict(DEFAULT_PERIOD_PARAMS)
    merged.update((params or {}).get("period", {}) if params else {})
    return merged


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
    df = 1.0 / (float(period["oversampling"]) * baseline)
    n = int(np.floor((f_max - f_min) / df)) + 1
    return FrequencyGrid(f_min=f_min, df=df, n=n)


def lomb_scargle_power(
    time: np.ndarray, mag: np.ndarray, mag_err: np.ndarray, grid: FrequencyGrid
) -> np.ndarray:
    """Generalised Lomb-Scargle power on ``grid`` with nifty-ls.

    The power is the standard normalisation ``P = 1 − χ²(f) / χ²_0``, where
    ``χ²(f)`` is that of the best weighted sinusoid plus constant at frequency
    ``f`` and ``χ²_0`` that of the weighted mean (Zechmeister & Kürster 2009).
    """
    result = nifty_ls.lombscargle(
        time,
        mag,
        mag_err,
        fmin=grid.f_min,
        fmax=grid.f_min + grid.df * (grid.n - 1),
        Nf=grid.n,
        backend="finufft",
        nthreads=1,
    )
    return result.power


def lomb_scargle_power_astropy(
    time: np.ndarray, mag: np.ndarray, mag_err: np.ndarray, grid: FrequencyGrid
) -> np.ndarray:
    """The same periodogram as :func:`lomb_scargle_power`, computed by astropy.

    Slower; kept as the reference that the nifty-ls result is tested against.
    """
    from astropy.timeseries import LombScargle

    periodogram = LombScargle(time, mag, mag_err)
    return periodogram.power(grid.frequencies, method="fast")


def best_lomb_scargle_period(
    time: np.ndarray, mag: np.ndarray, mag_err: np.ndarray, period: dict
) -> tuple[float, float]:
    """Period (days) and power of the highest Lomb-Scargle peak on the grid."""
    grid = frequency_grid(time[-1] - time[0], period)
    power = lomb_scargle_power(time, mag, mag_err, grid)
    best = int(np.argmax(power))
    return 1.0 / (grid.f_min + grid.df * best), float(power[best])
