"""Calibration of class probabilities, fitted on out-of-fold predictions.

Astronomers keep the stars whose class probability passes a threshold, so a
published probability of 0.9 should be right nine times in ten. Classifiers
trained with class weights and early stopping are not, in general: boosted
trees are often under-confident, networks over-confident. A calibrator is a
monotone map from raw to calibrated probabilities, learned on predictions the
model made for stars it did not train on, i.e. the out-of-fold predictions of
the cross-validation (:func:`varsky.classify.cross_validate`):

- ``temperature`` (Guo et al. 2017, ICML, "On calibration of modern neural
  networks", §4.2): one scalar ``T > 0`` for all classes,
  ``p'_k = softmax(log p_k / T)``, with ``T`` minimising the multi-class
  log-loss. It never changes the predicted class.
- ``bias_temperature`` (Alexandari et al. 2020, ICML, "Maximum likelihood
  with bias-corrected calibration is hard-to-beat at label shift
  adaptation"): a temperature and one bias per class,
  ``p'_k = softmax(log p_k / T + b_k)`` with ``b_0 = 0``, all minimising the
  log-loss. The biases undo the shift of prior that class-balanced training
  weights cause (such a model predicts rare classes as if every class were
  equally common); the most probable class may change, towards the classes
  that are truly common.
- ``isotonic`` (Zadrozny & Elkan 2002, KDD, doi:10.1145/775047.775151): per
  class, a non-decreasing step function of ``p_k`` fitted to the one-vs-rest
  outcome ``[y = k]`` by the pool-adjacent-violators algorithm; the rows are
  then renormalised to sum to one. More flexible, may change the predicted
  class of stars near a boundary.

The fits are deterministic (bounded minimisations of a smooth loss from a
fixed start, a least-squares projection): nothing is drawn at random, so the
same predictions always give the same calibrator.

So that the reported calibrated scores are honest, they are *cross-fitted*:
the calibrated probability of a training star of fold ``k`` comes from a
calibrator fitted on the out-of-fold predictions of the other folds only
(:func:`cross_fit`); test stars get the calibrator fitted on every training
star.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import minimize, minimize_scalar
from sklearn.isotonic import IsotonicRegression

log = logging.getLogger(__name__)

METHODS = ("temperature", "bias_temperature", "isotonic", "none")
"""Calibrators known by name; ``none`` publishes the raw probabilities."""

EPSILON = 1e-12
"""Floor on probabilities before their logarithm is taken."""


def reliability(probabilities: np.ndarray, y_true: np.ndarray, n_bins: int) -> dict:
    """Reliability of the top-class probability and the expected calibration error.

    Stars are binned by their highest class probability ``p̂`` into ``n_bins``
    equal-width bins on [0, 1]; per bin, the mean ``p̂`` (confidence) is
    compared with the fraction of correct predictions (accuracy).
    ``ECE = Σ_b (n_b / N) |acc_b − conf_b|`` (Guo et al. 2017, ICML, "On
    calibration of modern neural networks", eq. 3). The multi-class Brier score
    is ``(1/N) Σ_i Σ_k (p_ik − [y_i = k])²`` (Brier 1950, Monthly Weather
    Review 78, 1).
    """
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == y_true
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(which, confidence, n_bins) / count
        accuracy = np.bincount(which, correct.astype(float), n_bins) / count
    gap = np.where(count > 0, np.abs(accuracy - mean_conf), 0.0)
    onehot = np.eye(probabilities.shape[1])[y_true]
    return {
        "bin_edges": edges.tolist(),
        "count": count.tolist(),
        "confidence": [None if np.isnan(v) else float(v) for v in mean_conf],
        "accuracy": [None if np.isnan(v) else float(v) for v in accuracy],
        "ece": float(np.sum(count * gap) / max(count.sum(), 1)),
        "brier": float(np.mean(np.sum((probabilities - onehot) ** 2, axis=1))),
    }


def log_loss(probabilities: np.ndarray, y: np.ndarray) -> float:
    """Mean multi-class log-loss ``−(1/N) Σ_i log p_{i, y_i}``."""
    picked = probabilities[np.arange(len(y)), y]
    return float(-np.mean(np.log(np.clip(picked, EPSILON, None))))


def scale_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log p / T)`` row by row: ``T > 1`` softens, ``T < 1`` sharpens."""
    logits = np.log(np.clip(probabilities, EPSILON, None)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    scaled = np.exp(logits)
    return scaled / scaled.sum(axis=1, keepdims=True)


def fit_temperature(
    probabilities: np.ndarray, y: np.ndarray, bounds: tuple[float, float]
) -> float:
    """The temperature ``T`` in ``bounds`` that minimises the log-loss.

    The log-loss of ``softmax(z / T)`` is smooth in ``log T``; it is minimised
    by Brent's bounded method on ``log T`` (``scipy.optimize.minimize_scalar``).
    """
    lower, upper = np.log(bounds[0]), np.log(bounds[1])
    result = minimize_scalar(
        lambda log_t: log_loss(scale_temperature(probabilities, np.exp(log_t)), y),
        bounds=(lower, upper),
        method="bounded",
        options={"xatol": 1e-6},
    )
    return float(np.exp(result.x))


def scale_bias_temperature(
    probabilities: np.ndarray, temperature: float, biases: np.ndarray
) -> np.ndarray:
    """``softmax(log p / T + b)`` row by row."""
    logits = np.log(np.clip(probabilities, EPSILON, None)) / temperature + biases
    logits -= logits.max(axis=1, keepdims=True)
    scaled = np.exp(logits)
    return scaled / scaled.sum(axis=1, keepdims=True)


def fit_bias_temperature(
    probabilities: np.ndarray, y: np.ndarray, bounds: tuple[float, float]
) -> tuple[float, np.ndarray]:
    """``T`` in ``bounds`` and biases ``b`` (``b_0 = 0``) minimising the log-loss.

    L-BFGS-B from ``T = 1``, ``b = 0`` on ``(log T, b_1 … b_{K−1})``, with the
    analytic gradient of the mean log-loss: for ``z = log p``,
    ``a = z / T + b`` and ``q = softmax(a)``, ``∂L/∂b_k = mean(q_k − [y = k])``
    and ``∂L/∂log T = −mean(Σ_k (q_k − [y = k]) z_k / T)``.
    """
    z = np.log(np.clip(probabilities, EPSILON, None))
    onehot = np.eye(z.shape[1])[y]

    def loss_and_gradient(theta):
        temperature = np.exp(theta[0])
        logits = z / temperature + np.r_[0.0, theta[1:]]
        logits -= logits.max(axis=1, keepdims=True)
        log_q = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        residual = np.exp(log_q) - onehot
        loss = -np.mean(np.sum(onehot * log_q, axis=1))
        d_log_t = -np.mean(np.sum(residual * z, axis=1)) / temperature
        return loss, np.r_[d_log_t, residual.mean(axis=0)[1:]]

    limits = [(np.log(bounds[0]), np.log(bounds[1]))] + [(-20.0, 20.0)] * (
        z.shape[1] - 1
    )
    result = minimize(
        loss_and_gradient,
        np.zeros(z.shape[1]),
        jac=True,
        method="L-BFGS-B",
        bounds=limits,
    )
    return float(np.exp(result.x[0])), np.r_[0.0, result.x[1:]]


@dataclass
class Calibrator:
    """A fitted calibrator of one model's class probabilities.

    Attributes
    ----------
    method : str
        One of :data:`METHODS`.
    temperature : float
        The fitted ``T`` (``temperature``, ``bias_temperature``; 1 otherwise).
    biases : list
        Per class, the fitted ``b_k`` (``bias_temperature``; empty otherwise).
    isotonic : list
        Per class, the breakpoints ``(x, y)`` of the isotonic map
        (``isotonic``; empty otherwise).
    """

    method: str
    temperature: float = 1.0
    biases: list = field(default_factory=list)
    isotonic: list = field(default_factory=list)

    def apply(self, probabilities: np.ndarray) -> np.ndarray:
        """Calibrated probabilities, rows summing to one."""
        if self.method == "temperature":
            return scale_temperature(probabilities, self.temperature)
        if self.method == "bias_temperature":
            return scale_bias_temperature(
                probabilities, self.temperature, np.asarray(self.biases)
            )
        if self.method == "isotonic":
            columns = [
                np.interp(probabilities[:, k], xs, ys)
                for k, (xs, ys) in enumerate(self.isotonic)
            ]
            return _normalise(np.column_stack(columns), probabilities)
        return probabilities.copy()

    def describe(self) -> dict:
        """The calibrator's parameters, for the metrics file."""
        if self.method == "temperature":
            return {"method": self.method, "temperature": self.temperature}
        if self.method == "bias_temperature":
            return {
                "method": self.method,
                "temperature": self.temperature,
                "biases": list(self.biases),
            }
        if self.method == "isotonic":
            return {
                "method": self.method,
                "breakpoints": [len(x) for x, _ in self.isotonic],
            }
        return {"method": self.method}


def fit_calibrator(
    probabilities: np.ndarray,
    y: np.ndarray,
    method: str,
    temperature_bounds: tuple[float, float] = (0.05, 20.0),
) -> Calibrator:
    """Fit a calibrator of ``method`` to probabilities and their true classes.

    Raises
    ------
    ValueError
        For an unknown method, naming the known ones.
    """
    if method not in METHODS:
        raise ValueError(
            f"unknown calibration method {method!r}; choose one of {list(METHODS)}"
        )
    if method == "temperature":
        return Calibrator(method, fit_temperature(probabilities, y, temperature_bounds))
    if method == "bias_temperature":
        temperature, biases = fit_bias_temperature(probabilities, y, temperature_bounds)
        return Calibrator(method, temperature, biases.tolist())
    if method == "isotonic":
        maps = []
        for k in range(probabilities.shape[1]):
            regression = IsotonicRegression(
                y_min=0.0, y_max=1.0, out_of_bounds="clip"
            ).fit(probabilities[:, k], (y == k).astype("float64"))
            maps.append(
                (
                    regression.X_thresholds_.tolist(),
                    regression.y_thresholds_.tolist(),
                )
            )
        return Calibrator(method, isotonic=maps)
    return Calibrator(method)


def _normalise(calibrated: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """Rows divided by their sum; a row of zeros falls back to the raw one."""
    total = calibrated.sum(axis=1, keepdims=True)
    return np.where(total > 0, calibrated / np.where(total > 0, total, 1), raw)


def cross_fit(
    probabilities: np.ndarray,
    y: np.ndarray,
    fold: np.ndarray,
    method: str,
    temperature_bounds: tuple[float, float] = (0.05, 20.0),
) -> tuple[np.ndarray, list[Calibrator]]:
    """Calibrate out-of-fold probabilities without using a star's own fold.

    For each fold ``k``, a calibrator is fitted on the stars of the other
    folds and applied to the stars of fold ``k``.

    Returns
    -------
    calibrated : numpy.ndarray
        Same shape as ``probabilities``.
    calibrators : list of Calibrator
        One per fold, in order of the sorted fold numbers.
    """
    calibrated = np.empty_like(probabilities)
    calibrators = []
    for k in np.unique(fold):
        held = fold == k
        calibrator = fit_calibrator(
            probabilities[~held], y[~held], method, temperature_bounds
        )
        calibrated[held] = calibrator.apply(probabilities[held])
        calibrators.append(calibrator)
    return calibrated, calibrators


def calibrate_predictions(
    predictions: pd.DataFrame,
    classes: list[str],
    method: str,
    n_bins: int,
    temperature_bounds: tuple[float, float] = (0.05, 20.0),
) -> tuple[pd.DataFrame, dict]:
    """Calibrate a model's predictions table and measure the gain.

    ``predictions`` is the table of :func:`varsky.classify.cross_validate`
    (out-of-fold ``p_<class>`` for the ``train`` split, the final model's for
    ``test``). Training stars are calibrated by :func:`cross_fit`, test stars
    by the calibrator fitted on every training star.

    Returns
    -------
    calibrated : pandas.DataFrame
        The same rows with ``p_<class>`` calibrated, the raw probabilities
        kept as ``raw_p_<class>``, ``predicted_class`` the most probable
        calibrated class and ``raw_predicted_class`` the most probable raw one
        (the class the cross-validated scores count).
    summary : dict
        ``method``, the parameters of the calibrator fitted on every training
        star (``final``), and for ``cross_validation`` and ``holdout`` (when
        there are test stars) the :func:`varsky.classify.reliability` of the
        ``raw`` and ``calibrated`` probabilities with their log-loss.
    """
    columns = [f"p_{c}" for c in classes]
    raw = predictions[columns].to_numpy(dtype="float64")
    y = predictions["class_name"].map({c: i for i, c in enumerate(classes)})
    y = y.to_numpy(dtype="int64")
    train = (predictions["split"] == "train").to_numpy()
    test = (predictions["split"] == "test").to_numpy()

    calibrated = raw.copy()
    fold = predictions["fold"].to_numpy()
    calibrated[train], _ = cross_fit(
        raw[train], y[train], fold[train], method, temperature_bounds
    )
    final = fit_calibrator(raw[train], y[train], method, temperature_bounds)
    if test.any():
        calibrated[test] = final.apply(raw[test])

    def measured(rows):
        return {
            stage: {
                **reliability(values[rows], y[rows], n_bins),
                "log_loss": log_loss(values[rows], y[rows]),
            }
            for stage, values in (("raw", raw), ("calibrated", calibrated))
        }

    summary = {
        "method": method,
        "final": final.describe(),
        "cross_validation": measured(train),
        "holdout": measured(test) if test.any() else None,
    }
    out = predictions.copy()
    out["raw_predicted_class"] = [classes[i] for i in raw.argmax(axis=1)]
    for i, column in enumerate(columns):
        out[f"raw_{column}"] = raw[:, i]
        out[column] = calibrated[:, i]
    out["predicted_class"] = [classes[i] for i in calibrated.argmax(axis=1)]
    cv = summary["cross_validation"]
    log.info(
        "%s calibration: out-of-fold ECE %.4f -> %.4f, Brier %.4f -> %.4f (%s)",
        method,
        cv["raw"]["ece"],
        cv["calibrated"]["ece"],
        cv["raw"]["brier"],
        cv["calibrated"]["brier"],
        summary["final"],
    )
    return out, summary


def calibration_table(metrics: list[dict]) -> pd.DataFrame:
    """One row per model, evaluation set and stage: ECE, Brier and log-loss.

    Columns: ``model``, ``method``, ``evaluated_on`` (``cross_validation`` or
    ``holdout``), ``stage`` (``raw`` or ``calibrated``), ``ece``, ``brier``,
    ``log_loss``, ``n_stars``.
    """
    rows = []
    for m in metrics:
        summary = m.get("calibration")
        if not summary:
            continue
        for evaluated_on in ("cross_validation", "holdout"):
            for stage, values in (summary.get(evaluated_on) or {}).items():
                rows.append(
                    {
                        "model": m["model"],
                        "method": summary["method"],
                        "evaluated_on": evaluated_on,
                        "stage": stage,
                        "ece": values["ece"],
                        "brier": values["brier"],
                        "log_loss": values["log_loss"],
                        "n_stars": int(sum(values["count"])),
                    }
                )
    return pd.DataFrame(
        rows,
        columns=[
            "model",
            "method",
            "evaluated_on",
            "stage",
            "ece",
            "brier",
            "log_loss",
            "n_stars",
        ],
    )
