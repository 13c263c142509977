"""Tests of varsky.period: the frequency grid and the period searches."""

from __future__ import annotations

import numpy as np
import pytest

from varsky import period as ps


def test_frequency_grid_by_hand():
    # f from 1/20 = 0.05 to 1/0.5 = 2 per day, step 1 / (5 · 10) = 0.02:
    # (2 - 0.05) / 0.02 = 97.5 -> 97 steps, 98 frequencies
    grid = ps.frequency_grid(
        10.0, {"min_days": 0.5, "max_days": 20.0, "oversampling": 5}
    )
    assert grid.f_min == pytest.approx(0.05)
    assert grid.df == pytest.approx(0.02)
    assert grid.n == 98
    assert grid.frequencies[-1] == pytest.approx(0.05 + 97 * 0.02)


def test_frequency_grid_rejects_empty_baseline():
    with pytest.raises(ValueError, match="baseline"):
        ps.frequency_grid(0.0, ps.DEFAULT_PERIOD_PARAMS)


def noisy_sinusoid(period=0.61, n=120, seed=3):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, 900, n))
    err = rng.uniform(0.02, 0.06, n)
    m = 18 + 0.25 * np.sin(2 * np.pi * t / period + 1.0) + rng.normal(0, err)
    return t, m, err


def test_nifty_ls_agrees_with_astropy():
    t, m, e = noisy_sinusoid()
    grid = ps.frequency_grid(t[-1] - t[0], ps.DEFAULT_PERIOD_PARAMS)
    nifty = ps.lomb_scargle_power(t, m, e, grid)
    astropy = ps.lomb_scargle_power_astropy(t, m, e, grid)
    assert np.argmax(nifty) == np.argmax(astropy)
    assert np.max(np.abs(nifty - astropy)) < 0.05
    assert nifty.max() == pytest.approx(astropy.max(), abs=1e-3)


def test_best_lomb_scargle_period_recovers_sinusoid():
    t, m, e = noisy_sinusoid()
    best, power = ps.best_lomb_scargle_period(t, m, e, ps.DEFAULT_PERIOD_PARAMS)
    assert best == pytest.approx(0.61, rel=1e-4)
    assert 0.8 < power <= 1.0
