"""The teaching examples against their exact answers."""

import numpy as np
import pytest
import torch

from varsky import primer

torch.set_num_threads(1)


def test_least_squares_matches_polyfit():
    x, y = primer.noisy_line(40, slope=-1.5, intercept=3.0, noise=0.3, seed=2)
    np.testing.assert_allclose(primer.least_squares_line(x, y), np.polyfit(x, y, 1))


def test_gradient_descent_reaches_the_least_squares_line():
    x, y = primer.noisy_line(50, slope=2.0, intercept=0.5, noise=0.1, seed=0)
    slope, intercept, loss = primer.fit_line_gradient_descent(x, y, 0.5, 5000)
    exact = primer.least_squares_line(x, y)
    assert (slope, intercept) == pytest.approx(exact, abs=1e-6)
    assert loss[0] == pytest.approx(np.mean(y**2))  # starts from m = c = 0
    assert np.all(np.diff(loss) <= 1e-12)
    assert loss[-1] == pytest.approx(np.mean((exact[0] * x + exact[1] - y) ** 2))


def test_gradient_descent_reports_divergence():
    x, y = primer.noisy_line(20, 1.0, 0.0, 0.1, seed=0)
    with pytest.raises(ValueError, match="learning_rate"):
        primer.fit_line_gradient_descent(x, y, 9.0, 2000)


def test_sliding_windows_by_hand():
    inputs, targets = primer.sliding_windows(np.arange(5.0), 3)
    np.testing.assert_array_equal(inputs, [[0, 1, 2], [1, 2, 3]])
    np.testing.assert_array_equal(targets, [3, 4])


def test_forecaster_beats_the_series_variance():
    options = {
        "n_points": 200,
        "period": 20.0,
        "noise": 0.1,
        "window": 20,
        "train_fraction": 0.75,
        "hidden_units": 8,
        "learning_rate": 0.02,
        "epochs": 80,
    }
    result = primer.train_forecaster(options, seed=0)
    # A sine of unit amplitude has variance 1/2; the forecast must do far better.
    assert result["forecast_mse"] < 0.1
    assert result["loss"][-1] < result["loss"][0] / 5
