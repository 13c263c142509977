"""The first learning machines: a line by gradient descent, a recurrent forecast.

Two small, exactly checkable examples that introduce the machinery of the
classification stage:

- :func:`fit_line_gradient_descent` fits ``y = m x + c`` by plain gradient
  descent on the mean squared error and is checked against the closed-form
  least-squares answer (:func:`least_squares_line`);
- :func:`train_forecaster` trains a GRU (Cho et al. 2014, arXiv:1406.1078) to
  forecast a noisy periodic series one step ahead from a window of its past.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch import nn

from varsky.reproducible import seed_everything

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- #
# A straight line
# --------------------------------------------------------------------------- #
def noisy_line(
    n_points: int, slope: float, intercept: float, noise: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``x ~ U(0, 1)`` and ``y = slope x + intercept + N(0, noise²)``, seeded."""
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(0.0, 1.0, n_points))
    return x, slope * x + intercept + rng.normal(0.0, noise, n_points)


def least_squares_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The exact minimiser of the mean squared error of ``y = m x + c``.

    ``m = Σ (x_i − x̄)(y_i − ȳ) / Σ (x_i − x̄)²`` and ``c = ȳ − m x̄`` (the normal
    equations; e.g. Press et al. 2007, *Numerical Recipes*, 3rd ed., §15.2).
    """
    dx = x - x.mean()
    slope = float(np.sum(dx * (y - y.mean())) / np.sum(dx**2))
    return slope, float(y.mean() - slope * x.mean())


def fit_line_gradient_descent(
    x: np.ndarray, y: np.ndarray, learning_rate: float, steps: int
) -> tuple[float, float, np.ndarray]:
    """Fit ``y = m x + c`` by gradient descent on the mean squared error.

    ``L(m, c) = (1/N) Σ (m x_i + c − y_i)²``, with gradients
    ``∂L/∂m = (2/N) Σ r_i x_i`` and ``∂L/∂c = (2/N) Σ r_i`` for the residuals
    ``r_i = m x_i + c − y_i``; each step moves ``(m, c)`` by ``−learning_rate``
    times the gradient, starting from ``m = c = 0`` (Cauchy 1847; Goodfellow,
    Bengio & Courville 2016, *Deep Learning*, §4.3).

    Returns
    -------
    slope, intercept : float
        After ``steps`` steps.
    loss : numpy.ndarray
        ``L`` before each step, then after the last (``steps + 1`` values).
    """
    slope, intercept = 0.0, 0.0
    loss = np.empty(steps + 1)
    with np.errstate(over="ignore", invalid="ignore"):
        for step in range(steps):
            residual = slope * x + intercept - y
            loss[step] = np.mean(residual**2)
            if not np.isfinite(loss[step]):
                break
            slope -= learning_rate * 2.0 * np.mean(residual * x)
            intercept -= learning_rate * 2.0 * np.mean(residual)
        loss[steps] = np.mean((slope * x + intercept - y) ** 2)
    if not np.all(np.isfinite(loss)):
        raise ValueError(
            f"gradient descent diverged with learning_rate {learning_rate}; "
            "lower primer.line.learning_rate"
        )
    return slope, intercept, loss


def line_primer(options: dict, seed: int) -> dict:
    """Draw the noisy line, fit it both ways and return everything to plot."""
    x, y = noisy_line(
        options["n_points"],
        options["slope"],
        options["intercept"],
        options["noise"],
        seed,
    )
    slope, intercept, loss = fit_line_gradient_descent(
        x, y, options["learning_rate"], options["steps"]
    )
    exact_slope, exact_intercept = least_squares_line(x, y)
    log.info(
        "line: gradient descent m=%.4f c=%.4f, least squares m=%.4f c=%.4f",
        slope,
        intercept,
        exact_slope,
        exact_intercept,
    )
    return {
        "x": x.tolist(),
        "y": y.tolist(),
        "true": {"slope": options["slope"], "intercept": options["intercept"]},
        "gradient_descent": {"slope": slope, "intercept": intercept},
        "least_squares": {"slope": exact_slope, "intercept": exact_intercept},
        "loss": loss.tolist(),
    }


# --------------------------------------------------------------------------- #
# A recurrent forecast
# --------------------------------------------------------------------------- #
def noisy_periodic_series(
    n_points: int, period: float, noise: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``y_t = sin(2π t / period) + N(0, noise²)`` at ``t = 0 … n_points − 1``."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_points, dtype="float64")
    return t, np.sin(2 * np.pi * t / period) + rng.normal(0.0, noise, n_points)


def sliding_windows(series: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs ``series[i : i + window]`` and targets ``series[i + window]``."""
    n = series.size - window
    if n < 1:
        raise ValueError(f"a series of {series.size} points has no window of {window}")
    index = np.arange(window)[None, :] + np.arange(n)[:, None]
    return series[index], series[window:]


class Forecaster(nn.Module):
    """A GRU over a window of past values, then a linear map to the next value."""

    def __init__(self, hidden: int):
        super().__init__()
        self.gru = nn.GRU(1, hidden, batch_first=True)
        self.out = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, last = self.gru(x[..., None])
        return self.out(last[-1])[:, 0]


def train_forecaster(options: dict, seed: int) -> dict:
    """Train :class:`Forecaster` on the first part of the series; forecast the rest.

    Full-batch Adam on the mean squared error of one-step forecasts over the
    training windows. The forecasts of the remaining part use the observed
    past (one step ahead), so their error measures what the network learnt.
    """
    seed_everything(seed)
    t, y = noisy_periodic_series(
        options["n_points"], options["period"], options["noise"], seed
    )
    inputs, targets = sliding_windows(y, options["window"])
    n_train = int(options["train_fraction"] * len(targets))
    x = torch.as_tensor(inputs, dtype=torch.float32)
    target = torch.as_tensor(targets, dtype=torch.float32)
    model = Forecaster(options["hidden_units"])
    optimiser = torch.optim.Adam(model.parameters(), lr=options["learning_rate"])
    losses = []
    for _ in range(options["epochs"]):
        optimiser.zero_grad()
        loss = torch.mean((model(x[:n_train]) - target[:n_train]) ** 2)
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
    with torch.no_grad():
        forecast = model(x).numpy().astype("float64")
    test_mse = float(np.mean((forecast[n_train:] - targets[n_train:]) ** 2))
    log.info(
        "forecast: training MSE %.4f, forecast MSE %.4f (noise variance %.4f)",
        losses[-1],
        test_mse,
        options["noise"] ** 2,
    )
    return {
        "time": t.tolist(),
        "series": y.tolist(),
        "forecast_time": t[options["window"] :].tolist(),
        "forecast": forecast.tolist(),
        "n_train": n_train,
        "loss": losses,
        "forecast_mse": test_mse,
        "noise_variance": options["noise"] ** 2,
    }
