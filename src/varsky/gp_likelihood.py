"""The GP log-likelihood and its gradient from one Cholesky factorisation.

A light curve ``y`` (magnitudes minus their median) at times ``t`` with
errors ``σ`` is modelled as ``y ~ N(0, K)`` with

    K = Σ_c a_c² k_c(|t_i − t_j|) + diag(σ² + s²),

a sum of kernel components ``c`` (the star's signal, a slow trend, or the
folded curve) with amplitudes ``a_c`` and a fitted jitter ``s``. With the
Cholesky factor ``K = L Lᵀ`` and ``α = K⁻¹ y``,

    ln L = −½ yᵀ α − Σ_i ln L_ii − (N/2) ln 2π,
    ∂ ln L / ∂θ = ½ tr((α αᵀ − K⁻¹) ∂K/∂θ)

(Rasmussen & Williams 2006, *Gaussian Processes for Machine Learning*, MIT
Press, eqs. 5.8 and 5.9; Cholesky route of their algorithm 2.1). Every
hyperparameter ``p`` is optimised as ``θ = ln p``.

The kernels are george's (:func:`varsky.gp.signal_kernel` builds the same
ones); they are written out here with numpy on the matrix of time lags, so
that one step of the optimiser costs one factorisation, one inverse and a few
element-wise passes over ``N²`` numbers, where george's separate
``log_likelihood`` and ``grad_log_likelihood`` walk its generic parameter
machinery and evaluate the gradient of every kernel parameter through a
virtual call per matrix element.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import lapack

KERNEL_PARAMETERS = {
    "squared_exponential": ("amplitude", "length_scale"),
    "rational_quadratic": ("amplitude", "length_scale", "alpha"),
    "matern32": ("amplitude", "length_scale"),
    "periodic": ("amplitude", "gamma", "period"),
    "quasi_periodic": ("amplitude", "length_scale", "gamma", "period"),
}
"""Natural hyperparameters of each kernel, without the component's prefix."""

SINGULAR = 1e25
"""``−ln L`` reported where ``K`` is not positive definite (or not finite)."""

_LOG_2PI = np.log(2.0 * np.pi)


@dataclass(frozen=True)
class Component:
    """One kernel of the sum: its name (a key of :data:`KERNEL_PARAMETERS`),
    the prefix of its hyperparameters' names, and the hyperparameters held
    fixed at given values (e.g. ``{"period": 1.0}`` for a folded curve)."""

    kernel: str
    prefix: str
    fixed: tuple[tuple[str, float], ...] = ()

    def free(self) -> list[str]:
        """The fitted hyperparameters, without the prefix."""
        held = dict(self.fixed)
        return [p for p in KERNEL_PARAMETERS[self.kernel] if p not in held]


# --------------------------------------------------------------------------- #
# Correlation functions and their derivatives in ln(parameter)
# --------------------------------------------------------------------------- #
def _squared_exponential(lag, lag2, p):
    """``exp(−τ²/2ℓ²)``; ``∂/∂ln ℓ = (τ²/ℓ²) k``."""
    scaled = lag2 * (0.5 / p["length_scale"] ** 2)
    k = np.exp(-scaled)
    return k, {"length_scale": 2.0 * scaled * k}


def _rational_quadratic(lag, lag2, p):
    """``(1 + u)^(−α)``, ``u = τ²/2αℓ²``; ``∂/∂ln ℓ = 2αu k/(1+u)``,
    ``∂/∂ln α = (αu/(1+u) − α ln(1+u)) k``."""
    alpha = p["alpha"]
    u = lag2 * (0.5 / (alpha * p["length_scale"] ** 2))
    log_base = np.log1p(u)
    k = np.exp(-alpha * log_base)
    ratio = alpha * u / (1.0 + u)
    return k, {
        "length_scale": 2.0 * ratio * k,
        "alpha": (ratio - alpha * log_base) * k,
    }


def _matern32(lag, lag2, p):
    """``(1 + r) e^(−r)``, ``r = √3 τ/ℓ``; ``∂/∂ln ℓ = r² e^(−r)``."""
    r = lag * (np.sqrt(3.0) / p["length_scale"])
    decay = np.exp(-r)
    return (1.0 + r) * decay, {"length_scale": r * r * decay}


def _periodic(lag, lag2, p):
    """``exp(−Γ sin²(πτ/P))``; ``∂/∂ln Γ = −Γ sin²(πτ/P) k``,
    ``∂/∂ln P = Γ (πτ/P) sin(2πτ/P) k``."""
    gamma = p["gamma"]
    angle = lag * (np.pi / p["period"])
    sine2 = np.sin(angle) ** 2
    k = np.exp(-gamma * sine2)
    return k, {
        "gamma": -gamma * sine2 * k,
        "period": gamma * angle * np.sin(2.0 * angle) * k,
    }


def _quasi_periodic(lag, lag2, p):
    """The periodic kernel times the squared exponential (product rule)."""
    periodic, d_periodic = _periodic(lag, lag2, p)
    envelope, d_envelope = _squared_exponential(lag, lag2, p)
    return periodic * envelope, {
        "length_scale": periodic * d_envelope["length_scale"],
        "gamma": d_periodic["gamma"] * envelope,
        "period": d_periodic["period"] * envelope,
    }


CORRELATIONS = {
    "squared_exponential": _squared_exponential,
    "rational_quadratic": _rational_quadratic,
    "matern32": _matern32,
    "periodic": _periodic,
    "quasi_periodic": _quasi_periodic,
}
"""Each kernel's unit-amplitude correlation ``k(τ)`` and its derivatives."""


# --------------------------------------------------------------------------- #
# The likelihood
# --------------------------------------------------------------------------- #
class DenseLikelihood:
    """``−ln L(θ)`` and its gradient for one light curve, exact (Cholesky).

    Parameters
    ----------
    time, mag_err, y : numpy.ndarray
        Times (d), errors (mag) and the centred magnitudes ``y``.
    components : sequence of Component
        The kernels summed into ``K``.

    Attributes
    ----------
    names : list of str
        The natural names of ``θ``'s entries: ``jitter`` then each
        component's free hyperparameters, prefixed (``signal_length_scale``).
    evaluations : int
        Calls so far.
    """

    def __init__(self, time, mag_err, y, components):
        self.lag = np.abs(np.subtract.outer(time, time))
        self.lag2 = self.lag * self.lag
        self.noise = np.asarray(mag_err, dtype="float64") ** 2
        self.y = np.asarray(y, dtype="float64")
        self.components = tuple(components)
        self.names = ["jitter"] + [
            f"{c.prefix}_{p}" for c in self.components for p in c.free()
        ]
        self.evaluations = 0

    def covariance(self, theta: np.ndarray):
        """``K`` without its diagonal noise, and ``∂K/∂θ`` of every kernel
        entry of ``θ`` (the jitter's, ``2 s² I``, is handled apart)."""
        values = dict(zip(self.names, np.exp(theta), strict=True))
        matrix, derivatives = None, []
        for c in self.components:
            p = dict(c.fixed)
            p.update({q: values[f"{c.prefix}_{q}"] for q in c.free()})
            k, d = CORRELATIONS[c.kernel](self.lag, self.lag2, p)
            a2 = p["amplitude"] ** 2
            part = a2 * k
            for q in c.free():
                derivatives.append(2.0 * part if q == "amplitude" else a2 * d[q])
            matrix = part if matrix is None else matrix + part
        return matrix, derivatives, values["jitter"] ** 2

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """``(−ln L, −∂ ln L/∂θ)``; ``(SINGULAR, 0)`` where ``K`` is not
        positive definite."""
        self.evaluations += 1
        n = self.y.size
        with np.errstate(over="ignore", invalid="ignore"):
            # Overflowing hyperparameters give a non-finite K, caught below.
            matrix, derivatives, jitter2 = self.covariance(theta)
            matrix.flat[:: n + 1] += self.noise + jitter2

        factor, info = lapack.dpotrf(matrix, lower=1, clean=1, overwrite_a=1)
        if info != 0 or not np.isfinite(factor.flat[:: n + 1]).all():
            return SINGULAR, np.zeros_like(theta)
        alpha, _ = lapack.dpotrs(factor, self.y, lower=1)
        log_det = 2.0 * np.log(factor.flat[:: n + 1]).sum()
        value = -0.5 * (self.y @ alpha + log_det + n * _LOG_2PI)
        if not np.isfinite(value):
            return SINGULAR, np.zeros_like(theta)

        # The lower triangle of K⁻¹ (its upper one is left zero), so that
        # tr(K⁻¹ D) = 2 Σ_{i≥j} (K⁻¹)_ij D_ij − Σ_i (K⁻¹)_ii D_ii for symmetric D.
        lower, _ = lapack.dpotri(factor, lower=1, overwrite_c=1)
        diagonal = lower.diagonal()
        gradient = np.empty_like(theta)
        gradient[0] = jitter2 * (alpha @ alpha - diagonal.sum())
        for j, d in enumerate(derivatives, start=1):
            trace = 2.0 * np.vdot(lower, d) - diagonal @ d.diagonal()
            gradient[j] = 0.5 * (alpha @ (d @ alpha) - trace)
        return -value, -gradient
