"""Gaussian-process models of light curves: detrending and phase resampling.

A Gaussian process (GP) describes a light curve by the covariance between its
points rather than by a fixed equation (Rasmussen & Williams 2006, *Gaussian
Processes for Machine Learning*, MIT Press, ch. 2 and 5). varsky uses george
(Ambikasaran et al. 2015, IEEE TPAMI 38, 252, doi:10.1109/TPAMI.2015.2448083)
in two roles.

**Detrending.** Each band ``m(t)`` of a star with period ``P`` (from the
features stage) is modelled as

    m(t) − median(m) ~ GP(0, k_signal + k_trend),   Σ_ii += σ_i² + s²,

where ``k_signal`` is the kernel chosen in the config (one of :data:`KERNELS`)
and describes the star's own variability, ``k_trend(τ) = a_T² exp(−τ² / 2ℓ_T²)``
is a squared-exponential trend whose length scale is held above both
``trend_min_periods · P`` and ``trend_min_baselines · T`` (``T`` the baseline;
the second keeps a short-period star's trend from following its aliased
signal between sparse epochs), ``σ_i`` are the reported errors and ``s`` a fitted
jitter. The two kernels are kept apart by their time scales: ``k_signal``'s
length scale stays below ``signal_length_scale_periods[1] · P``, which may
not exceed ``trend_min_periods · P``. The hyperparameters maximise the log-likelihood

    ln L = −½ yᵀ K⁻¹ y − ½ ln det K − (N/2) ln 2π

(Rasmussen & Williams eq. 5.8) with L-BFGS-B from data-driven starts plus
seeded random restarts. The trend is the conditional mean of the trend
component alone, ``μ_T = K_T(t, t) K⁻¹ y`` (Rasmussen & Williams eq. 2.25
applied to one summand), and the detrended curve is
``m − (μ_T − median(μ_T))``.

**Resampling.** The (detrended) band folded at ``P``, with phase
``φ = ((t − t₀) / P) mod 1``, is conditioned on a periodic GP in phase,
``k(Δφ) = a² exp(−Γ sin²(π Δφ))`` (MacKay 1998, "Introduction to Gaussian
processes", NATO ASI Series F 168, 133), whose mean and standard deviation are
read on a fixed grid of phases, normalised per star (see
:func:`resample_star`).

The fits of short curves (below ``hodlr_min_points``) take ``ln L`` and its
analytic gradient from one Cholesky factorisation per optimiser step
(:mod:`varsky.gp_likelihood`); george builds the GP that predicts at the
optimum. Longer curves use george's HODLR solver (Ambikasaran et al. 2015),
whose gradient would need the dense inverse of ``K`` (``O(N²)`` memory, and
more time than the factorisation): they start from the exact fit of a segment
of the curve and take a bounded number of L-BFGS-B steps with forward
differences of the HODLR likelihood, so a fit costs a fixed number of
``O(N log² N)`` evaluations (see :func:`fit_on_hodlr`).
"""

from __future__ import annotations

import itertools
import logging
import time as clock
import zlib
from dataclasses import dataclass

import george
import numpy as np
import pandas as pd
from george import kernels
from scipy.optimize import minimize

from varsky.gp_likelihood import SINGULAR, Component, DenseLikelihood
from varsky.io import write_atomic

log = logging.getLogger(__name__)

KERNELS = (
    "squared_exponential",
    "rational_quadratic",
    "matern32",
    "periodic",
    "quasi_periodic",
)
"""Signal kernels, by config name."""

HYPERPARAMETERS = (
    "signal_amplitude",
    "signal_length_scale",
    "signal_alpha",
    "signal_gamma",
    "signal_period",
    "trend_amplitude",
    "trend_length_scale",
    "jitter",
)
"""Hyperparameter columns of the fit table, in natural units: amplitudes and
jitter in mag, length scales and period in days, ``alpha`` (rational-quadratic
shape) and ``gamma`` (periodic sharpness) dimensionless. NaN where the kernel
has no such parameter."""

FOLD_HYPERPARAMETERS = ("fold_amplitude", "fold_gamma", "fold_jitter")
"""Hyperparameters of the periodic GP in phase (mag, dimensionless, mag)."""

SIGNAL_PARAMETERS = {
    "squared_exponential": ("signal_amplitude", "signal_length_scale"),
    "rational_quadratic": ("signal_amplitude", "signal_length_scale", "signal_alpha"),
    "matern32": ("signal_amplitude", "signal_length_scale"),
    "periodic": ("signal_amplitude", "signal_gamma", "signal_period"),
    "quasi_periodic": (
        "signal_amplitude",
        "signal_length_scale",
        "signal_gamma",
        "signal_period",
    ),
}
"""The hyperparameters each signal kernel fits."""

# How a natural hyperparameter appears in george's parameter vector: the
# suffix of george's name and the map from θ = ln(natural value) to george's
# value (george stores ln a², ln ℓ², ln α, Γ, ln P and ln s²).
_GEORGE_NAMES = {
    "amplitude": ("log_constant", "twice"),
    "length_scale": ("metric:log_M_0_0", "twice"),
    "alpha": ("log_alpha", "same"),
    "gamma": ("gamma", "exp"),
    "period": ("log_period", "same"),
}

# Bounds that mean "this component is absent" (no trend, a trend flat over the
# whole baseline, no extra noise), a valid answer rather than a fit squeezed by
# its bounds: (name, 0 for lower or 1 for upper). They do not set 'at_bound';
# nor does any amplitude at its lower bound (see bound_hits).
_ABSENCE_BOUNDS = {
    ("trend_amplitude", 0),
    ("trend_length_scale", 1),
    ("jitter", 0),
    ("fold_jitter", 0),
}

# Relative distance to a bound, in ln space, that counts as "at the bound".
_AT_BOUND = 1e-3

FIT_COLUMNS = [
    "source_id",
    "band",
    "n_points",
    "period",
    "kernel",
    *HYPERPARAMETERS,
    "log_likelihood",
    "solver",
    "n_evaluations",
    "status",
    "reason",
    *FOLD_HYPERPARAMETERS,
    "fold_log_likelihood",
    "fold_status",
    "fold_reason",
]
"""Columns of ``gp/fits/<shard>.parquet``, one row per star and band."""


class FitError(RuntimeError):
    """A GP fit that could not produce a usable optimum; the message says why."""


# What a bad star may raise; it is flagged with the reason, never crashes a shard.
_BAD_STAR = (FitError, np.linalg.LinAlgError, ValueError, FloatingPointError)


def describe(error: Exception) -> str:
    """The reason recorded for a failed fit."""
    if isinstance(error, FitError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def check_params(params: dict) -> None:
    """Rules on the ``gp`` config that its schema cannot express.

    Raises
    ------
    ValueError
        Naming the config key and what it must be.
    """
    bounds = params["bounds"]
    ranges = ("amplitude_mag", "jitter_mag", "signal_length_scale_periods")
    for key in (*ranges, "alpha", "gamma"):
        low, high = bounds[key]
        if not low < high:
            raise ValueError(
                f"config key 'gp.bounds.{key}': the lower bound {low} must be "
                f"smaller than the upper bound {high}"
            )
    if bounds["signal_length_scale_periods"][1] > bounds["trend_min_periods"]:
        raise ValueError(
            "config key 'gp.bounds.signal_length_scale_periods': its upper bound "
            f"{bounds['signal_length_scale_periods'][1]} may not exceed "
            f"gp.bounds.trend_min_periods ({bounds['trend_min_periods']}), or the "
            "signal could take the trend's time scales"
        )


def periods_of(features: pd.DataFrame) -> pd.Series:
    """Each star's chosen period in days, indexed by ``source_id``: the
    ``period`` column, else the band period of highest Lomb-Scargle power."""
    from varsky.plots import chosen_period

    return pd.Series(
        chosen_period(features).to_numpy(dtype="float64"),
        index=features["source_id"].astype(str),
    )


# --------------------------------------------------------------------------- #
# Kernels
# --------------------------------------------------------------------------- #
def signal_kernel(name: str, values: dict) -> kernels.Kernel:
    """The signal kernel ``name`` with natural hyperparameters ``values``.

    With ``τ = |t − t'|``, amplitude ``a`` and length scale ``ℓ``:

    - ``squared_exponential``: ``a² exp(−τ² / 2ℓ²)``
    - ``rational_quadratic``: ``a² (1 + τ² / 2αℓ²)^(−α)``
    - ``matern32``: ``a² (1 + √3 τ/ℓ) exp(−√3 τ/ℓ)``
    - ``periodic``: ``a² exp(−Γ sin²(π τ / P))``
    - ``quasi_periodic``: ``a² exp(−Γ sin²(π τ / P)) exp(−τ² / 2ℓ²)``

    (Rasmussen & Williams 2006, eqs. 4.9, 4.19, 4.17; MacKay 1998 for the
    periodic kernel; george's metric is ``ℓ²``.)
    """
    if name not in KERNELS:
        raise ValueError(f"unknown GP kernel {name!r}; choose one of {KERNELS}")
    a2 = values["signal_amplitude"] ** 2
    if name in ("periodic", "quasi_periodic"):
        periodic = kernels.ExpSine2Kernel(
            gamma=values["signal_gamma"], log_period=np.log(values["signal_period"])
        )
    if name == "periodic":
        return a2 * periodic
    metric = values["signal_length_scale"] ** 2
    if name == "squared_exponential":
        return a2 * kernels.ExpSquaredKernel(metric)
    if name == "rational_quadratic":
        return a2 * kernels.RationalQuadraticKernel(
            log_alpha=np.log(values["signal_alpha"]), metric=metric
        )
    if name == "matern32":
        return a2 * kernels.Matern32Kernel(metric)
    return a2 * (periodic * kernels.ExpSquaredKernel(metric))


def trend_kernel(values: dict) -> kernels.Kernel:
    """The long-timescale trend ``a_T² exp(−τ² / 2ℓ_T²)``."""
    return values["trend_amplitude"] ** 2 * kernels.ExpSquaredKernel(
        values["trend_length_scale"] ** 2
    )


def make_solver(n_points: int, params: dict) -> tuple[str, dict]:
    """The solver for a curve of ``n_points``: ``exact`` below ``hodlr_min_points``."""
    if n_points >= params["hodlr_min_points"]:
        options = {
            "solver": george.HODLRSolver,
            "min_size": params["hodlr_leaf_size"],
            "tol": params["hodlr_tolerance"],
            "seed": 0,
        }
        return "hodlr", options
    return "exact", {"solver": george.BasicSolver}


def build_gp(kernel: kernels.Kernel, jitter: float, solver_options: dict) -> george.GP:
    """A zero-mean george GP with a fitted white-noise (jitter) term ``s²``."""
    return george.GP(
        kernel,
        mean=0.0,
        fit_mean=False,
        white_noise=2.0 * np.log(jitter),
        fit_white_noise=True,
        **solver_options,
    )


# --------------------------------------------------------------------------- #
# Maximum likelihood
# --------------------------------------------------------------------------- #
@dataclass
class Parameterisation:
    """Natural hyperparameters ↔ george's parameter vector.

    The optimiser works in ``θ = ln(natural value)``; ``index`` and ``kind``
    say where each ``θ`` lands in george's vector and how (``twice``: george
    stores ``2θ``; ``same``: ``θ``; ``exp``: ``e^θ``).
    """

    names: list[str]
    index: np.ndarray
    kind: list[str]

    @classmethod
    def of(cls, gp: george.GP, components: dict[str, str]) -> Parameterisation:
        """Locate each natural name in ``gp``; ``components`` maps a kernel
        prefix (``kernel:k1``) to the natural-name prefix (``signal``)."""
        george_names = list(gp.get_parameter_names())
        names = ["jitter"]
        index = [george_names.index("white_noise:value")]
        kind = ["twice"]
        for position, george_name in enumerate(george_names):
            for prefix, natural_prefix in components.items():
                if not george_name.startswith(prefix + ":"):
                    continue
                for short, (suffix, how) in _GEORGE_NAMES.items():
                    if george_name.endswith(suffix):
                        names.append(f"{natural_prefix}_{short}")
                        index.append(position)
                        kind.append(how)
        return cls(names, np.array(index), kind)

    def to_george(self, theta: np.ndarray, vector: np.ndarray) -> np.ndarray:
        """George's parameter vector with the free entries set from ``θ``."""
        out = vector.copy()
        for value, j, how in zip(theta, self.index, self.kind, strict=True):
            out[j] = np.exp(value) if how == "exp" else _LINEAR[how] * value
        return out

    def chain(self, theta: np.ndarray) -> np.ndarray:
        """``d(george value) / dθ`` for each entry of ``θ``."""
        return np.array(
            [
                np.exp(value) if how == "exp" else _LINEAR[how]
                for value, how in zip(theta, self.kind, strict=True)
            ]
        )


_LINEAR = {"twice": 2.0, "same": 1.0}


def negative_log_likelihood(
    gp: george.GP,
    y: np.ndarray,
    parameterisation: Parameterisation,
    theta: np.ndarray,
    base: np.ndarray,
    gradient: bool = True,
):
    """``−ln L(θ)`` and, with ``gradient``, its derivative in ``θ``.

    The gradient is george's analytic ``∂ ln L / ∂g = ½ tr((α αᵀ − K⁻¹) ∂K/∂g)``
    (Rasmussen & Williams eq. 5.9) times ``dg/dθ``; both come from one
    factorisation of ``K``. A non-finite likelihood (a singular ``K``) gives
    ``10²⁵`` and a zero gradient, which the optimiser steps away from.
    """
    gp.set_parameter_vector(parameterisation.to_george(theta, base))
    value = gp.log_likelihood(y, quiet=True)
    if not gradient:
        return -value if np.isfinite(value) else SINGULAR
    if not np.isfinite(value):
        return SINGULAR, np.zeros_like(theta)
    grad = gp.grad_log_likelihood(y, quiet=True)[parameterisation.index]
    return -value, -grad * parameterisation.chain(theta)


@dataclass
class FitResult:
    """A fitted band: the natural hyperparameters, ``ln L`` at the optimum,
    the likelihood evaluations it took, ``ok`` or ``at_bound`` and why, and
    the george GP conditioned on the curve at the optimum (for prediction)."""

    values: dict
    log_likelihood: float
    n_evaluations: int
    status: str
    reason: str
    gp: george.GP


@dataclass
class Optimum:
    """The best point ``θ = ln(natural values)`` found by
    :func:`maximise_likelihood`, ``−ln L`` there and the evaluations spent."""

    names: list[str]
    theta: np.ndarray
    value: float
    evaluations: int

    def values(self) -> dict:
        """The natural hyperparameters by name."""
        return dict(zip(self.names, np.exp(self.theta).tolist(), strict=True))


def log_bounds(names, bounds) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds of ``θ = ln(natural value)`` for ``names``."""
    return (
        np.log([bounds[n][0] for n in names]),
        np.log([bounds[n][1] for n in names]),
    )


def lbfgsb_options(params: dict, max_iterations: int | None = None) -> dict:
    """L-BFGS-B stopping rules from the config (Byrd et al. 1995, SIAM J. Sci.
    Comput. 16, 1190): at most ``max_iterations``; stop when ``−ln L`` falls
    by less than ``relative_tolerance · max(|ln L|, 1)`` in an iteration, or
    when every projected gradient component is below ``gradient_tolerance``."""
    return {
        "maxiter": params["max_iterations"]
        if max_iterations is None
        else max_iterations,
        "ftol": params["relative_tolerance"],
        "gtol": params["gradient_tolerance"],
    }


def maximise_likelihood(
    objective,
    names: list[str],
    starts: list[dict],
    bounds: dict[str, tuple[float, float]],
    rng: np.random.Generator,
    params: dict,
    gradient: bool = True,
) -> Optimum:
    """Maximise ``ln L`` over the hyperparameters ``names`` with L-BFGS-B.

    ``objective(θ)`` returns ``−ln L`` and, with ``gradient``, its derivative
    in ``θ = ln(natural value)`` (else L-BFGS-B differences it). The first
    starts are ``starts`` (data-driven); up to ``params['restarts']`` more are
    drawn uniformly in ``θ`` between the bounds. The search stops as soon as a
    start reaches the best optimum so far to within
    ``params['restart_agreement']`` nats (two starts agreeing is taken as the
    global optimum found). The best converged optimum
    wins. Raises :class:`FitError` when no start converges to a finite value.
    """
    lower, upper = log_bounds(names, bounds)
    evaluations = 0

    def counted(theta):
        nonlocal evaluations
        evaluations += 1
        return objective(theta)

    given = (np.clip(np.log([s[n] for n in names]), lower, upper) for s in starts)
    draws = (rng.uniform(lower, upper) for _ in range(params["restarts"]))
    best, problems = None, []
    for theta0 in itertools.chain(given, draws):
        try:
            result = minimize(
                counted,
                theta0,
                jac=gradient,
                method="L-BFGS-B",
                bounds=list(zip(lower, upper, strict=True)),
                options=lbfgsb_options(params),
            )
        except (np.linalg.LinAlgError, ValueError, RuntimeError) as error:
            problems.append(f"{type(error).__name__}: {error}")
            continue
        if not np.isfinite(result.fun) or result.fun >= SINGULAR:
            problems.append("the likelihood is not finite (singular covariance)")
            continue
        if not result.success:
            problems.append(f"L-BFGS-B did not converge: {result.message}")
            continue
        agrees = best is not None and (
            abs(result.fun - best.fun) <= params["restart_agreement"]
        )
        if best is None or result.fun < best.fun:
            best = result
        if agrees:
            break
    if best is None:
        raise FitError("; ".join(dict.fromkeys(problems)) or "no start converged")
    return Optimum(list(names), best.x, float(best.fun), evaluations)


def fit_result(optimum: Optimum, bounds: dict, model: george.GP) -> FitResult:
    """The :class:`FitResult` of ``optimum``, its bounds checked."""
    lower, upper = log_bounds(optimum.names, bounds)
    hits = bound_hits(optimum.names, optimum.theta, lower, upper, bounds)
    return FitResult(
        values=optimum.values(),
        log_likelihood=-optimum.value,
        n_evaluations=optimum.evaluations,
        status="at_bound" if hits else "ok",
        reason="; ".join(hits),
        gp=model,
    )


def conditioned_gp(
    kernel: kernels.Kernel,
    jitter: float,
    solver_options: dict,
    time: np.ndarray,
    mag_err: np.ndarray,
    what: str = "covariance matrix",
) -> george.GP:
    """A george GP with ``kernel`` and ``jitter``, computed at ``time``.

    Raises :class:`FitError` when the covariance matrix cannot be factorised.
    """
    model = build_gp(kernel, jitter, solver_options)
    try:
        model.compute(time, mag_err)
    except (np.linalg.LinAlgError, ValueError) as error:
        raise FitError(f"the {what} is singular: {error}") from None
    return model


def bound_hits(names, theta, lower, upper, bounds) -> list[str]:
    """Hyperparameters within ``_AT_BOUND`` (relative, in ``ln``) of a bound.

    A component whose amplitude sits at its lower bound is absent (a star with
    no resolved signal, no trend, a flat fold): its other hyperparameters are
    then unidentified and their bounds are not reported either.
    """
    width = np.maximum(upper - lower, 1e-12)
    at = {
        (name, side): abs(theta[i] - edge) <= _AT_BOUND * width[i]
        for i, name in enumerate(names)
        for side, edge in ((0, lower[i]), (1, upper[i]))
    }
    absent = {
        name.removesuffix("_amplitude")
        for name in names
        if name.endswith("_amplitude") and at[(name, 0)]
    }
    hits = []
    for name in names:
        if name.split("_")[0] in absent:
            continue
        for side in (0, 1):
            if at[(name, side)] and (name, side) not in _ABSENCE_BOUNDS:
                word = ("lower", "upper")[side]
                hits.append(f"{name} at its {word} bound {bounds[name][side]:.4g}")
    return hits


# --------------------------------------------------------------------------- #
# Detrending one band
# --------------------------------------------------------------------------- #
def detrend_bounds(
    period: float, baseline: float, params: dict
) -> dict[str, tuple[float, float]]:
    """Bounds of every hyperparameter, time scales in units of ``period``."""
    b = params["bounds"]
    trend_low = max(
        b["trend_min_periods"] * period, b["trend_min_baselines"] * baseline
    )
    trend_high = max(b["trend_max_baselines"] * baseline, 10.0 * trend_low)
    tolerance = b["period_tolerance"]
    return {
        "signal_amplitude": tuple(b["amplitude_mag"]),
        "signal_length_scale": (
            b["signal_length_scale_periods"][0] * period,
            b["signal_length_scale_periods"][1] * period,
        ),
        "signal_alpha": tuple(b["alpha"]),
        "signal_gamma": tuple(b["gamma"]),
        "signal_period": (period / (1 + tolerance), period * (1 + tolerance)),
        "trend_amplitude": tuple(b["amplitude_mag"]),
        "trend_length_scale": (trend_low, trend_high),
        "jitter": tuple(b["jitter_mag"]),
    }


def detrend_start(
    y: np.ndarray,
    mag_err: np.ndarray,
    period: float,
    bounds: dict,
    length_scale_periods: float = 1.0,
) -> dict:
    """A data-driven start: the signal amplitude from the excess variance,
    ``a² = max(var(y) − mean(σ²), var(y)/100)`` (the variance the errors do not
    explain; Vaughan et al. 2003, MNRAS 345, 1271), the length scale
    ``length_scale_periods · P``, a weak trend at twice its shortest allowed
    length scale and a jitter of a tenth of the median error."""
    scatter = float(np.std(y)) or 1e-3
    excess = max(scatter**2 - float(np.mean(mag_err**2)), scatter**2 / 100.0)
    start = {
        "signal_amplitude": np.sqrt(excess),
        "signal_length_scale": length_scale_periods * period,
        "signal_alpha": 1.0,
        "signal_gamma": 1.0,
        "signal_period": period,
        "trend_amplitude": 0.1 * scatter,
        "trend_length_scale": 2.0 * bounds["trend_length_scale"][0],
        "jitter": 0.1 * float(np.median(mag_err)),
    }
    return {k: float(np.clip(v, *bounds[k])) for k, v in start.items()}


def check_band(
    time: np.ndarray, mag: np.ndarray, mag_err: np.ndarray, needed: int
) -> None:
    """Raise :class:`FitError` for a band no GP can be fitted to: fewer than
    ``needed`` points or distinct times, non-finite values, errors ≤ 0."""
    if time.size < needed:
        raise FitError(f"{time.size} points, fewer than the {needed} the fit needs")
    distinct = np.unique(time).size
    if distinct < needed:
        raise FitError(
            f"{distinct} distinct times, fewer than the {needed} the fit needs"
        )
    if not (np.isfinite(time).all() and np.isfinite(mag).all()):
        raise FitError("non-finite times or magnitudes")
    if not (np.isfinite(mag_err).all() and (mag_err > 0).all()):
        raise FitError("magnitude errors that are not finite and positive")


def star_rng(seed: int, source_id: str, band: str) -> np.random.Generator:
    """A generator seeded by the config seed and the star and band names, so a
    star's restarts do not depend on how the stars are sharded."""
    return np.random.default_rng([seed, zlib.crc32(f"{source_id}/{band}".encode())])


def detrending_components(kernel_name: str) -> list[Component]:
    """The detrending model's kernels: the signal, then the trend."""
    return [
        Component(kernel_name, "signal"),
        Component("squared_exponential", "trend"),
    ]


def fit_detrending(
    time: np.ndarray,
    mag: np.ndarray,
    mag_err: np.ndarray,
    period: float,
    params: dict,
    rng: np.random.Generator,
) -> tuple[FitResult, str]:
    """Fit signal + trend + jitter to one band; return the fit and the solver.

    Below ``hodlr_min_points`` the likelihood and its analytic gradient come
    from one Cholesky factorisation per step
    (:class:`varsky.gp_likelihood.DenseLikelihood`); longer curves are fitted
    by :func:`fit_on_hodlr`. Raises :class:`FitError` for a curve that cannot
    be fitted (too short, no period, no converged start).
    """
    kernel_name = params["kernel"]
    n_free = len(SIGNAL_PARAMETERS[kernel_name]) + 3
    check_band(time, mag, mag_err, max(params["min_points"], n_free + 1))
    if not (np.isfinite(period) and period > 0):
        raise FitError("no period from the features stage")

    y = mag - np.median(mag)
    baseline = float(time[-1] - time[0])
    bounds = detrend_bounds(period, baseline, params)
    starts = [
        detrend_start(y, mag_err, period, bounds, f)
        for f in params["start_length_scale_periods"]
    ]
    components = detrending_components(kernel_name)
    solver_name, solver_options = make_solver(time.size, params)
    if solver_name == "hodlr":
        optimum, model = fit_on_hodlr(
            time, mag_err, y, components, starts, bounds, rng, params
        )
        return fit_result(optimum, bounds, model), solver_name

    likelihood = DenseLikelihood(time, mag_err, y, components)
    optimum = maximise_likelihood(
        likelihood, likelihood.names, starts, bounds, rng, params
    )
    values = {**starts[0], **optimum.values()}
    kernel = signal_kernel(kernel_name, values) + trend_kernel(values)
    model = conditioned_gp(kernel, values["jitter"], solver_options, time, mag_err)
    return fit_result(optimum, bounds, model), solver_name


def fit_on_hodlr(
    time: np.ndarray,
    mag_err: np.ndarray,
    y: np.ndarray,
    components: list[Component],
    starts: list[dict],
    bounds: dict,
    rng: np.random.Generator,
    params: dict,
) -> tuple[Optimum, george.GP]:
    """The detrending fit of a long curve, at a cost that grows as one HODLR
    likelihood, ``O(N log² N)``.

    george's analytic gradient needs the dense ``K⁻¹`` and ``N²`` kernel
    derivatives per hyperparameter, so a long curve is fitted in two steps:

    1. the exact fit (analytic gradient, restarts) of the ``hodlr_start_points``
       consecutive points at the middle of the curve: the same cadence, so the
       signal and jitter come out close to those of the whole curve, at a cost
       that does not depend on ``N``;
    2. from there, at most ``hodlr_polish_iterations`` L-BFGS-B iterations on
       every point with george's HODLR likelihood (Ambikasaran et al. 2015)
       and a forward-difference gradient of step ``hodlr_difference_step`` in
       ``θ`` (``n_free + 1`` evaluations per gradient; the step is kept well
       above the HODLR approximation's noise in ``ln L``).

    Step 2 may stop at its iteration limit: the result is then the best point
    reached, never worse than its start. ``evaluations`` counts both steps.
    Returns the optimum and the HODLR GP conditioned at it.
    """
    # TODO: george's HODLR factorisation is not always faster than the exact
    # one. When the residual of an off-diagonal block falls below 1e-14 before
    # the relative tolerance is met, its low-rank search runs out of rows and
    # keeps the block at full rank: on a simulated 5000-point curve with a
    # 0.12-mag trend of 550 d, one factorisation takes 12-16 s (2.6 s exact)
    # at tolerances of 1e-6 and tighter. A solver with analytic gradients in
    # O(N) for these kernels would remove both this and the segment start.
    size = min(params["hodlr_start_points"], time.size)
    first = (time.size - size) // 2
    middle = slice(first, first + size)
    segment = DenseLikelihood(time[middle], mag_err[middle], y[middle], components)
    rough = maximise_likelihood(segment, segment.names, starts, bounds, rng, params)

    values = {**starts[0], **rough.values()}
    model = conditioned_gp(
        signal_kernel(components[0].kernel, values) + trend_kernel(values),
        values["jitter"],
        make_solver(time.size, params)[1],
        time,
        mag_err,
    )
    where = Parameterisation.of(model, {"kernel:k1": "signal", "kernel:k2": "trend"})
    base = model.get_parameter_vector()
    lower, upper = log_bounds(where.names, bounds)
    theta = np.clip(np.log([values[n] for n in where.names]), lower, upper)
    evaluations = 1
    value = -model.log_likelihood(y, quiet=True)
    value = value if np.isfinite(value) else SINGULAR

    def objective(theta):
        nonlocal evaluations
        evaluations += 1
        return negative_log_likelihood(model, y, where, theta, base, gradient=False)

    if params["hodlr_polish_iterations"] > 0 and value < SINGULAR:
        options = lbfgsb_options(params, params["hodlr_polish_iterations"])
        result = minimize(
            objective,
            theta,
            method="L-BFGS-B",
            bounds=list(zip(lower, upper, strict=True)),
            options={**options, "eps": params["hodlr_difference_step"]},
        )
        if result.fun < value:
            theta, value = result.x, float(result.fun)
    if not np.isfinite(value) or value >= SINGULAR:
        raise FitError("the HODLR likelihood is not finite (singular covariance)")
    best = where.to_george(theta, base)
    if not np.allclose(best, model.get_parameter_vector(), rtol=1e-12, atol=0.0):
        model.set_parameter_vector(best)  # refactorised on its next use
    return Optimum(where.names, theta, value, rough.evaluations + evaluations), model


def trend_of(fit: FitResult, time: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Conditional mean of the trend component at the observed times."""
    return fit.gp.predict(y, time, return_cov=False, kernel=fit.gp.kernel.k2)


def detrend(mag: np.ndarray, trend: np.ndarray) -> np.ndarray:
    """``m − (μ_T − median(μ_T))``: the trend removed, the brightness kept."""
    return mag - (trend - np.median(trend))


# --------------------------------------------------------------------------- #
# Resampling one band in phase
# --------------------------------------------------------------------------- #
def fold(time: np.ndarray, period: float, epoch: float) -> np.ndarray:
    """Phase ``((t − epoch) / P) mod 1`` in [0, 1)."""
    return np.mod((time - epoch) / period, 1.0)


def fit_folded(
    phase: np.ndarray,
    mag: np.ndarray,
    mag_err: np.ndarray,
    params: dict,
    rng: np.random.Generator,
) -> FitResult:
    """Fit ``a² exp(−Γ sin²(π Δφ))`` + jitter to a folded band (period 1 in
    phase, fixed), centred on its median."""
    b = params["bounds"]
    bounds = {
        "fold_amplitude": tuple(b["amplitude_mag"]),
        "fold_gamma": tuple(b["gamma"]),
        "jitter": tuple(b["jitter_mag"]),
    }
    y = mag - np.median(mag)
    start = {
        "fold_amplitude": float(np.clip(np.std(y) or 1e-3, *bounds["fold_amplitude"])),
        "fold_gamma": float(np.clip(5.0, *bounds["fold_gamma"])),
        "jitter": float(np.clip(0.1 * np.median(mag_err), *bounds["jitter"])),
    }
    folded = Component("periodic", "fold", fixed=(("period", 1.0),))
    likelihood = DenseLikelihood(phase, mag_err, y, [folded])
    optimum = maximise_likelihood(
        likelihood, likelihood.names, [start], bounds, rng, params
    )

    values = optimum.values()
    kernel = values["fold_amplitude"] ** 2 * kernels.ExpSine2Kernel(
        gamma=values["fold_gamma"], log_period=0.0
    )
    kernel.freeze_parameter("k2:log_period")
    model = conditioned_gp(
        kernel,
        values["jitter"],
        {"solver": george.BasicSolver},
        phase,
        mag_err,
        "folded covariance matrix",
    )
    fit = fit_result(optimum, bounds, model)
    fit.values["fold_jitter"] = fit.values.pop("jitter")
    fit.reason = fit.reason.replace("jitter", "fold_jitter")
    return fit


def robust_scale(mag: np.ndarray, mag_err: np.ndarray, percentile: float) -> float:
    """Half the spread between the ``percentile`` and ``100 − percentile``
    magnitudes, floored at the median error so a flat star is not blown up."""
    low, high = np.percentile(mag, [percentile, 100.0 - percentile])
    return float(max((high - low) / 2.0, np.median(mag_err)))


# --------------------------------------------------------------------------- #
# A shard
# --------------------------------------------------------------------------- #
def _empty_fit_row(source_id, band, n_points, period, kernel) -> dict:
    row = dict.fromkeys(FIT_COLUMNS, np.nan)
    row.update(
        source_id=source_id,
        band=band,
        n_points=n_points,
        period=period,
        kernel=kernel,
        solver="",
        n_evaluations=0,
        status="failed",
        reason="",
        fold_status="failed",
        fold_reason="",
    )
    return row


def resample_star(
    source_id: str,
    bands: list[str],
    curves: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    period: float,
    params: dict,
    seed: int,
    fit_rows: dict[str, dict],
) -> dict:
    """Mean and standard deviation of the folded GP on the phase grid.

    Phase 0 is the time ``epoch`` of maximum light (smallest GP-mean magnitude
    on the grid) of the first band, in ``bands`` order, with a usable fit; all
    bands share it, so colours keep their phase. Each band is normalised as
    ``(mag − offset) / scale`` with ``offset`` its median detrended magnitude
    and ``scale = −`` :func:`robust_scale` (negative, so that brighter is
    larger); the standard deviation is divided by ``|scale|``. The grid is
    ``φ_j = j / L``, ``j = 0 … L−1``.
    """
    length = params["n_phase"]
    grid = np.arange(length) / length
    out = {
        "mean": np.full((len(bands), length), np.nan, dtype="float32"),
        "std": np.full((len(bands), length), np.nan, dtype="float32"),
        "offset": np.full(len(bands), np.nan),
        "scale": np.full(len(bands), np.nan),
        "ok": np.zeros(len(bands), dtype=bool),
        "epoch": np.nan,
    }
    if not (np.isfinite(period) and period > 0):
        for band in curves:
            fit_rows[band]["fold_reason"] = "no period from the features stage"
        return out

    if not curves:
        return out
    reference_epoch = min(t[0] for t, _, _ in curves.values())
    fits = {}
    for band in bands:
        if band not in curves:
            continue
        time, mag, mag_err = curves[band]
        row = fit_rows[band]
        try:
            check_band(time, mag, mag_err, params["min_points"])
            phase = fold(time, period, reference_epoch)
            fit = fit_folded(
                phase, mag, mag_err, params, star_rng(seed, source_id, f"{band}/fold")
            )
        except _BAD_STAR as error:
            row["fold_reason"] = describe(error)
            continue
        row.update(fit.values)
        row.update(
            fold_log_likelihood=fit.log_likelihood,
            fold_status=fit.status,
            fold_reason=fit.reason,
        )
        fits[band] = (fit, mag - np.median(mag), mag, mag_err)
    if not fits:
        return out

    first = next(b for b in bands if b in fits)
    fit, y, _, _ = fits[first]
    shift = grid[int(np.argmin(fit.gp.predict(y, grid, return_cov=False)))]
    out["epoch"] = reference_epoch + shift * period
    for i, band in enumerate(bands):
        if band not in fits:
            continue
        fit, y, mag, mag_err = fits[band]
        mean, variance = fit.gp.predict(y, np.mod(grid + shift, 1.0), return_var=True)
        offset = float(np.median(mag))
        scale = -robust_scale(mag, mag_err, params["scale_percentile"])
        out["mean"][i] = (mean + np.median(mag) - offset) / scale
        out["std"][i] = np.sqrt(np.maximum(variance, 0.0)) / abs(scale)
        out["offset"][i], out["scale"][i], out["ok"][i] = offset, scale, True
    return out


def process_shard(
    lightcurves: pd.DataFrame,
    periods: pd.Series,
    bands: list[str],
    params: dict,
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Fit, detrend and resample every star of one shard.

    Parameters
    ----------
    lightcurves : pandas.DataFrame
        Tidy light curves (:data:`varsky.io.LIGHTCURVE_SCHEMA`); rows with
        ``flags != 0`` are passed on but not fitted.
    periods : pandas.Series
        Chosen period in days, indexed by ``source_id``.
    bands : list of str
        The dataset's bands in order; the axis ``B`` of the resampled arrays.
    params : dict
        The ``gp`` section of the config.
    seed : int
        The config seed.

    Returns
    -------
    fits : pandas.DataFrame
        :data:`FIT_COLUMNS`, one row per star and band with observations.
    detrended : pandas.DataFrame
        The input table with ``mag`` detrended where the fit succeeded.
    resampled : dict
        Arrays ``source_id``, ``bands``, ``phase``, ``mean``, ``std``,
        ``period``, ``epoch``, ``offset``, ``scale``, ``ok`` (see
        :func:`resample_star`).
    """
    started = clock.perf_counter()
    check_params(params)
    lightcurves = lightcurves.reset_index(drop=True)
    detrended = lightcurves.copy()
    stars = list(pd.unique(lightcurves["source_id"].astype(str)))
    rows, per_star = [], []
    new_mag = detrended["mag"].to_numpy(dtype="float64").copy()

    good = np.flatnonzero((lightcurves["flags"] == 0).to_numpy())
    keys = lightcurves.iloc[good][["source_id", "band"]].astype(str)
    by_star: dict[str, dict[str, np.ndarray]] = {}
    for (source_id, band), members in keys.groupby(
        ["source_id", "band"]
    ).indices.items():
        by_star.setdefault(source_id, {})[band] = good[members]
    time_all = lightcurves["time"].to_numpy(dtype="float64")
    mag_all = lightcurves["mag"].to_numpy(dtype="float64")
    err_all = lightcurves["mag_err"].to_numpy(dtype="float64")

    for source_id in stars:
        period = float(periods.get(source_id, np.nan))
        curves, fit_rows = {}, {}
        for band, positions in sorted(by_star.get(source_id, {}).items()):
            order = positions[np.argsort(time_all[positions], kind="stable")]
            time, mag, mag_err = time_all[order], mag_all[order], err_all[order]
            row = _empty_fit_row(source_id, band, time.size, period, params["kernel"])
            try:
                fit, solver = fit_detrending(
                    time,
                    mag,
                    mag_err,
                    period,
                    params,
                    star_rng(seed, source_id, band),
                )
                trend = trend_of(fit, time, mag - np.median(mag))
                mag = detrend(mag, trend)
                new_mag[order] = mag
                row.update(fit.values)
                row.update(
                    log_likelihood=fit.log_likelihood,
                    solver=solver,
                    n_evaluations=fit.n_evaluations,
                    status=fit.status,
                    reason=fit.reason,
                )
            except _BAD_STAR as error:
                row["reason"] = f"{describe(error)}; passed on un-detrended"
            curves[band] = (time, mag, mag_err)
            fit_rows[band] = row
        per_star.append(
            resample_star(source_id, bands, curves, period, params, seed, fit_rows)
        )
        rows.extend(fit_rows.values())

    detrended["mag"] = new_mag
    fits = pd.DataFrame(rows, columns=FIT_COLUMNS).astype(
        {"n_points": "int64", "n_evaluations": "int64"}
    )
    resampled = stack_resampled(stars, bands, periods, per_star, params["n_phase"])
    counts = fits["status"].value_counts()
    log.info(
        "gp: %d stars, %d bands fitted: %d ok, %d at a bound, %d failed; "
        "%d of %d star-bands resampled; %.1f s",
        len(stars),
        len(fits),
        counts.get("ok", 0),
        counts.get("at_bound", 0),
        counts.get("failed", 0),
        int(resampled["ok"].sum()),
        resampled["ok"].size,
        clock.perf_counter() - started,
    )
    return fits, detrended, resampled


def stack_resampled(stars, bands, periods, per_star, length) -> dict:
    """Stack per-star resampling results into the arrays of one shard."""
    n = len(stars)
    empty = (np.zeros((0, len(bands), length), dtype="float32"),) * 2
    return {
        "source_id": np.array(stars, dtype=str),
        "bands": np.array(bands, dtype=str),
        "phase": np.arange(length) / length,
        "mean": np.stack([s["mean"] for s in per_star]) if n else empty[0],
        "std": np.stack([s["std"] for s in per_star]) if n else empty[1],
        "period": np.array([float(periods.get(s, np.nan)) for s in stars]),
        "epoch": np.array([s["epoch"] for s in per_star], dtype="float64"),
        "offset": np.array([s["offset"] for s in per_star]).reshape(n, len(bands)),
        "scale": np.array([s["scale"] for s in per_star]).reshape(n, len(bands)),
        "ok": np.array([s["ok"] for s in per_star], dtype=bool).reshape(n, len(bands)),
    }


# --------------------------------------------------------------------------- #
# Files
# --------------------------------------------------------------------------- #
RESAMPLED_KEYS = (
    "source_id",
    "bands",
    "phase",
    "mean",
    "std",
    "period",
    "epoch",
    "offset",
    "scale",
    "ok",
)


def write_resampled(arrays: dict, path) -> None:
    """Save the resampled arrays with ``numpy.savez`` (no pickled objects)."""

    def write(tmp):
        with open(tmp, "wb") as handle:
            np.savez(handle, **{k: arrays[k] for k in RESAMPLED_KEYS})

    write_atomic(path, write)


def read_resampled(path) -> dict:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def gather_resampled(paths) -> dict:
    """Concatenate per-shard resampled arrays along the star axis."""
    parts = [read_resampled(p) for p in paths]
    if not parts:
        raise ValueError("no resampled shards to gather")
    for path, part in zip(paths, parts, strict=True):
        if not np.array_equal(part["bands"], parts[0]["bands"]) or not np.allclose(
            part["phase"], parts[0]["phase"]
        ):
            raise ValueError(
                f"{path}: its bands or phase grid differ from {paths[0]}'s"
            )
    out = {k: parts[0][k] for k in ("bands", "phase")}
    for key in RESAMPLED_KEYS:
        if key not in out:
            out[key] = np.concatenate([p[key] for p in parts])
    return out


def detrended_features(features: pd.DataFrame) -> pd.DataFrame:
    """Prefix every feature column with ``detrended_`` (``source_id`` kept)."""
    return features.rename(
        columns={c: f"detrended_{c}" for c in features if c != "source_id"}
    )


# --------------------------------------------------------------------------- #
# Figures' helpers
# --------------------------------------------------------------------------- #
def prior_draws(
    name: str, values: dict, time: np.ndarray, n_draws: int, rng: np.random.Generator
) -> np.ndarray:
    """``n_draws`` samples of the zero-mean GP prior with kernel ``name``,
    drawn as ``L z`` with ``L Lᵀ = K + 10⁻¹⁰ I`` and ``z ~ N(0, I)``."""
    matrix = signal_kernel(name, values).get_value(time[:, None])
    chol = np.linalg.cholesky(matrix + 1e-10 * np.eye(time.size))
    return (chol @ rng.standard_normal((time.size, n_draws))).T


def predict_band(
    time: np.ndarray,
    mag: np.ndarray,
    mag_err: np.ndarray,
    fit_row: pd.Series,
    grid: np.ndarray,
    params: dict,
) -> tuple[np.ndarray, np.ndarray]:
    """GP mean and 1-sigma of a band at ``grid``, from its fitted row."""
    values = {n: float(fit_row[n]) for n in HYPERPARAMETERS}
    values = {k: (v if np.isfinite(v) else 1.0) for k, v in values.items()}
    kernel = signal_kernel(fit_row["kernel"], values) + trend_kernel(values)
    gp = build_gp(kernel, values["jitter"], make_solver(time.size, params)[1])
    gp.compute(time, mag_err)
    centre = np.median(mag)
    mean, variance = gp.predict(mag - centre, grid, return_var=True)
    return mean + centre, np.sqrt(np.maximum(variance, 0.0))
