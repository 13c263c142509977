"""Synthetic light curves from a class-conditional denoising diffusion model.

The model learns the folded, GP-resampled shapes of the real stars (the GP
stage's ``resampled.npz``: every band of a star on one phase grid of ``L``
points, in normalised magnitude) and generates new shapes of a chosen class.

Forward process (Ho, Jain & Abbeel 2020, arXiv:2006.11239). With a variance
schedule ``β_1 … β_T``, ``α_t = 1 − β_t`` and ``ᾱ_t = Π_{s≤t} α_s``::

    x_t = √ᾱ_t · x_0 + √(1 − ᾱ_t) · ε,      ε ~ N(0, I).

The schedule is either *linear* in ``β`` or *cosine*,
``ᾱ_t = f(t) / f(0)`` with ``f(t) = cos²(((t/T) + s) / (1 + s) · π/2)`` and
``s = 0.008`` (Nichol & Dhariwal 2021, arXiv:2102.09672).

A 1-D U-Net ``ε_θ(x_t, t, c)`` with circular convolutions (the phase wraps
around) and embeddings of the step ``t`` and the class ``c`` is trained on the
noise-prediction loss ``E ‖ε − ε_θ(x_t, t, c)‖²``.

Two samplers draw new shapes: the full *ancestral* sampler of Ho et al.
(``T`` network calls) and the deterministic-by-default *DDIM* sampler of Song,
Meng & Ermon (2021, arXiv:2010.02502) on a subsequence of ``S ≪ T`` steps.

A synthetic *observed* light curve places a sampled shape on the epochs of a
real star of the same class, at the period, offset and scale of another real
star of that class, at a random phase, with Gaussian noise of the real errors
(:func:`synthesize_lightcurves`). Its realism is measured by training on
synthetic and testing on real (:func:`train_synthetic_test_real`; Esteban,
Hyland & Rätsch 2017, arXiv:1706.02633), by a classifier two-sample test
(:func:`classifier_two_sample_test`; Lopez-Paz & Oquab 2017,
arXiv:1610.06545) and by Wasserstein distances between feature distributions
(:func:`feature_distances`).
"""

from __future__ import annotations

import json
import logging
import math
import time as clock
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import xgboost as xgb
from scipy.stats import wasserstein_distance
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from torch import nn

from varsky.classify import feature_columns, score, train_xgboost
from varsky.io import (
    LIGHTCURVE_SCHEMA,
    ResampledCurves,
    ResampledLayoutError,
    write_atomic,
)
from varsky.io import load_resampled as io_load_resampled
from varsky.reproducible import seed_everything

log = logging.getLogger(__name__)


class DiffusionInputError(ValueError):
    """An input file of the diffusion stage that is not as documented."""


# --------------------------------------------------------------------------- #
# Inputs
# --------------------------------------------------------------------------- #
def load_resampled(path: str | Path) -> ResampledCurves:
    """Read the GP stage's ``resampled.npz`` (see :func:`varsky.io.load_resampled`).

    Raises
    ------
    DiffusionInputError
        Naming the file and the missing or misshapen array.
    """
    try:
        return io_load_resampled(path)
    except ResampledLayoutError as error:
        raise DiffusionInputError(str(error)) from None


def align_phase(curves: np.ndarray, reference_band: int = 0) -> np.ndarray:
    """Roll each star's curves so that its brightest phase comes first.

    The phase zero of a folded curve is arbitrary; putting the maximum light
    (the smallest normalised magnitude) of ``reference_band`` at phase 0, and
    shifting every band of the star by the same amount, leaves the model only
    the shapes to learn.

    Parameters
    ----------
    curves : ndarray, shape (n, B, L)
    reference_band : int
        Band whose maximum light defines phase 0.
    """
    shift = np.argmin(curves[:, reference_band, :], axis=1)
    index = (np.arange(curves.shape[-1])[None, :] + shift[:, None]) % curves.shape[-1]
    return np.take_along_axis(curves, index[:, None, :], axis=2)


@dataclass
class TrainingSet:
    """Aligned shapes of the stars a model learns from, with their classes."""

    source_id: np.ndarray
    curves: np.ndarray  # (n, B, L) normalised magnitude, float32
    class_index: np.ndarray  # (n,) int64 into classes
    classes: list[str]
    bands: list[str]


def training_set(
    resampled: ResampledCurves, labels: pd.DataFrame, split: str = "train"
) -> TrainingSet:
    """Stars of ``split`` with a class and a usable GP fit in every band.

    Stars lacking a band or with non-finite values are left out and counted in
    the log; the classes are the sorted class names of the stars kept.
    """
    chosen = labels.loc[labels["split"] == split, ["source_id", "class_name"]]
    class_of = dict(zip(chosen["source_id"], chosen["class_name"], strict=True))
    in_split = np.array([s in class_of for s in resampled.source_id])
    usable = (
        in_split
        & resampled.ok.all(axis=1)
        & np.isfinite(resampled.mean).all(axis=(1, 2))
    )
    log.info(
        "training set: %d stars of split %r in the GP table, %d without a usable "
        "fit in every band, %d kept",
        in_split.sum(),
        split,
        (in_split & ~usable).sum(),
        usable.sum(),
    )
    kept = resampled.subset(usable)
    names = np.array([class_of[s] for s in kept.source_id])
    classes = sorted(set(names))
    return TrainingSet(
        source_id=kept.source_id,
        curves=align_phase(kept.mean).astype(np.float32),
        class_index=np.array([classes.index(c) for c in names], dtype=np.int64),
        classes=classes,
        bands=[str(b) for b in resampled.bands],
    )


# --------------------------------------------------------------------------- #
# Noise schedule and forward process
# --------------------------------------------------------------------------- #
def beta_schedule(
    name: str,
    n_steps: int,
    beta_start: float = 1e-4,
    beta_end: float = 0.02,
    cosine_offset: float = 0.008,
) -> np.ndarray:
    """Variances ``β_1 … β_T`` of the forward process.

    ``linear``: ``β_t`` evenly spaced from ``beta_start`` to ``beta_end`` (Ho
    et al. 2020). ``cosine``: ``β_t = 1 − ᾱ_t / ᾱ_{t−1}`` with
    ``ᾱ_t = f(t) / f(0)``, ``f(t) = cos²(((t/T) + s)/(1 + s) · π/2)``, clipped
    to at most 0.999 (Nichol & Dhariwal 2021).
    """
    if n_steps < 1:
        raise ValueError(f"n_steps must be at least 1, got {n_steps}")
    if name == "linear":
        return np.linspace(beta_start, beta_end, n_steps, dtype=np.float64)
    if name == "cosine":
        t = np.arange(n_steps + 1, dtype=np.float64) / n_steps
        f = np.cos((t + cosine_offset) / (1 + cosine_offset) * np.pi / 2) ** 2
        alpha_bar = f / f[0]
        return np.clip(1 - alpha_bar[1:] / alpha_bar[:-1], 0.0, 0.999)
    raise ValueError(f"unknown noise schedule {name!r}; use 'linear' or 'cosine'")


class NoiseSchedule:
    """The constants of the forward process for a given ``β`` schedule.

    Index ``t = 0 … T−1`` stands for diffusion step ``t + 1``.
    """

    def __init__(self, betas: np.ndarray):
        self.betas = torch.as_tensor(betas, dtype=torch.float64)
        self.alphas = 1.0 - self.betas
        self.alpha_bar = torch.cumprod(self.alphas, dim=0)
        self.n_steps = len(betas)

    def add_noise(
        self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor
    ) -> torch.Tensor:
        """``x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε`` for a batch of steps ``t``."""
        alpha_bar = self.alpha_bar.to(x0.device)[t].to(x0.dtype)[:, None, None]
        return alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * noise


# --------------------------------------------------------------------------- #
# The denoiser: a 1-D U-Net on the phase grid
# --------------------------------------------------------------------------- #
def step_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of the step: ``[sin(t ω_k), cos(t ω_k)]``,
    ``ω_k = 10000^(−k / (dim/2))`` (Vaswani et al. 2017, arXiv:1706.03762)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device) / half)
    angles = t.float()[:, None] * freqs[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


def _conv(c_in: int, c_out: int, stride: int = 1) -> nn.Conv1d:
    return nn.Conv1d(c_in, c_out, 3, stride=stride, padding=1, padding_mode="circular")


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(8, channels), channels)


class ResidualBlock(nn.Module):
    """Two circular convolutions with the step-and-class embedding added between."""

    def __init__(self, c_in: int, c_out: int, embedding_dim: int):
        super().__init__()
        self.norm1, self.conv1 = _norm(c_in), _conv(c_in, c_out)
        self.embedding = nn.Linear(embedding_dim, c_out)
        self.norm2, self.conv2 = _norm(c_out), _conv(c_out, c_out)
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        h = self.conv1(nn.functional.silu(self.norm1(x)))
        h = h + self.embedding(embedding)[:, :, None]
        h = self.conv2(nn.functional.silu(self.norm2(h)))
        return h + self.skip(x)


class UNet1d(nn.Module):
    """Noise predictor ``ε_θ(x_t, t, c)`` for curves of shape (B bands, L phases).

    Each level halves the phase resolution (strided circular convolution) and
    widens the channels by its multiplier; the way up mirrors it with skip
    connections (Ronneberger et al. 2015, arXiv:1505.04597). All convolutions
    wrap around in phase, so a circular shift of the input by a multiple of
    ``2^(levels−1)`` points shifts the output by the same amount.
    """

    def __init__(
        self,
        n_bands: int,
        n_classes: int,
        base_channels: int = 32,
        channel_multipliers: tuple[int, ...] = (1, 2, 2),
    ):
        super().__init__()
        widths = [base_channels * m for m in channel_multipliers]
        self.embedding_dim = 4 * base_channels
        self.step_mlp = nn.Sequential(
            nn.Linear(base_channels, self.embedding_dim),
            nn.SiLU(),
            nn.Linear(self.embedding_dim, self.embedding_dim),
        )
        self.class_embedding = nn.Embedding(n_classes, self.embedding_dim)
        self.base_channels = base_channels
        self.n_levels = len(widths)

        self.stem = _conv(n_bands, widths[0])
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        previous = widths[0]
        for i, width in enumerate(widths):
            self.down.append(ResidualBlock(previous, width, self.embedding_dim))
            if i < len(widths) - 1:
                self.downsample.append(_conv(width, width, stride=2))
            previous = width
        self.middle = nn.ModuleList(
            [ResidualBlock(previous, previous, self.embedding_dim) for _ in range(2)]
        )
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for i, width in reversed(list(enumerate(widths))):
            self.up.append(ResidualBlock(previous + width, width, self.embedding_dim))
            if i > 0:
                self.upsample.append(_conv(width, widths[i - 1]))
                previous = widths[i - 1]
            else:
                previous = width
        self.head = nn.Sequential(_norm(previous), nn.SiLU(), _conv(previous, n_bands))

    def forward(
        self, x: torch.Tensor, t: torch.Tensor, class_index: torch.Tensor
    ) -> torch.Tensor:
        embedding = self.step_mlp(step_embedding(t, self.base_channels))
        embedding = nn.functional.silu(embedding + self.class_embedding(class_index))

        h = self.stem(x)
        skips = []
        for i, block in enumerate(self.down):
            h = block(h, embedding)
            skips.append(h)
            if i < len(self.downsample):
                h = self.downsample[i](h)
        for block in self.middle:
            h = block(h, embedding)
        for i, block in enumerate(self.up):
            h = block(torch.cat([h, skips.pop()], dim=1), embedding)
            if i < len(self.upsample):
                h = nn.functional.interpolate(h, scale_factor=2, mode="nearest")
                h = self.upsample[i](h)
        return self.head(h)


# --------------------------------------------------------------------------- #
# Training
# --------------------------------------------------------------------------- #
def choose_device(name: str = "auto") -> torch.device:
    """``auto``: the GPU when PyTorch sees one, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@dataclass
class DiffusionModel:
    """A trained denoiser with everything needed to sample from it."""

    network: UNet1d
    schedule: NoiseSchedule
    classes: list[str]
    bands: list[str]
    n_phase: int
    data_scale: float  # curves are divided by this before the network sees them
    settings: dict
    data_limit: float | None = None  # largest |curve| / data_scale in training

    def metadata(self) -> dict:
        return {
            "classes": self.classes,
            "bands": self.bands,
            "n_phase": self.n_phase,
            "data_scale": self.data_scale,
            "data_limit": self.data_limit,
            "settings": self.settings,
        }


def build_model(
    settings: dict, classes: list[str], bands: list[str], n_phase: int, scale: float
) -> DiffusionModel:
    """An untrained model from the ``diffusion`` section of the config."""
    levels = len(settings["channel_multipliers"])
    if n_phase % 2 ** (levels - 1):
        raise ValueError(
            f"the phase grid has {n_phase} points, which {levels} U-Net levels "
            f"cannot halve {levels - 1} times; choose a multiple of {2 ** (levels - 1)}"
        )
    network = UNet1d(
        n_bands=len(bands),
        n_classes=len(classes),
        base_channels=settings["base_channels"],
        channel_multipliers=tuple(settings["channel_multipliers"]),
    )
    betas = beta_schedule(
        settings["schedule"],
        settings["n_steps"],
        settings["beta_start"],
        settings["beta_end"],
    )
    return DiffusionModel(
        network, NoiseSchedule(betas), classes, bands, n_phase, scale, settings
    )


def train_diffusion(
    data: TrainingSet, settings: dict, seed: int, device: str = "auto"
) -> tuple[DiffusionModel, pd.DataFrame]:
    """Fit the denoiser on the noise-prediction loss.

    Each step draws a batch of stars, a step ``t`` uniformly from ``1 … T``
    and noise ``ε``, and takes one AdamW step on ``mean ‖ε − ε_θ(x_t, t, c)‖²``.
    The returned network holds an exponential moving average of the weights
    (decay ``ema_decay``), which samples better than the last iterate.

    Returns
    -------
    model : DiffusionModel
    history : pandas.DataFrame
        ``step``, ``loss`` (the batch loss) and ``seconds`` since the start.
    """
    started = clock.perf_counter()
    generator = seed_everything(seed)
    target = choose_device(device)

    scale = float(np.std(data.curves))
    model = build_model(
        settings, data.classes, data.bands, data.curves.shape[-1], scale
    )
    network = model.network.to(target)
    average = build_model(
        settings, data.classes, data.bands, data.curves.shape[-1], scale
    ).network.to(target)
    average.load_state_dict(network.state_dict())
    average.requires_grad_(False)
    averaged, trained = list(average.parameters()), list(network.parameters())

    curves = torch.as_tensor(data.curves / scale, dtype=torch.float32)
    model.data_limit = float(curves.abs().max())
    classes = torch.as_tensor(data.class_index)
    optimiser = torch.optim.AdamW(
        network.parameters(), lr=settings["learning_rate"], weight_decay=0.0
    )
    batch, n_steps, decay = (
        settings["batch_size"],
        settings["training_steps"],
        (settings["ema_decay"]),
    )
    losses = np.empty(n_steps)
    seconds = np.empty(n_steps)
    for step in range(n_steps):
        rows = torch.randint(len(curves), (batch,), generator=generator)
        t = torch.randint(model.schedule.n_steps, (batch,), generator=generator)
        noise = torch.randn((batch, *curves.shape[1:]), generator=generator)
        x0, c = curves[rows].to(target), classes[rows].to(target)
        t, noise = t.to(target), noise.to(target)
        loss = nn.functional.mse_loss(
            network(model.schedule.add_noise(x0, t, noise), t, c), noise
        )
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        with torch.no_grad():
            torch._foreach_lerp_(averaged, trained, 1.0 - decay)
        losses[step] = loss.item()
        seconds[step] = clock.perf_counter() - started
        if (step + 1) % max(1, n_steps // 10) == 0:
            log.info(
                "step %d/%d: loss %.4f (mean of the last %d), %.0f s",
                step + 1,
                n_steps,
                losses[max(0, step - 99) : step + 1].mean(),
                min(100, step + 1),
                seconds[step],
            )
    model.network = average.cpu().eval()
    log.info(
        "trained the diffusion model on %d stars, %d classes, %d steps on %s in %.0f s",
        len(curves),
        len(data.classes),
        n_steps,
        target,
        clock.perf_counter() - started,
    )
    history = pd.DataFrame(
        {"step": np.arange(1, n_steps + 1), "loss": losses, "seconds": seconds}
    )
    return model, history


def save_model(model: DiffusionModel, weights: str | Path, metadata: str | Path):
    """Weights as a PyTorch state dict, the rest as JSON, both atomically."""
    state = model.network.state_dict()
    write_atomic(weights, lambda tmp: torch.save(state, tmp))
    text = json.dumps(model.metadata(), indent=2)
    write_atomic(metadata, lambda tmp: Path(tmp).write_text(text))


def load_model(weights: str | Path, metadata: str | Path) -> DiffusionModel:
    """Rebuild a model saved by :func:`save_model` (weights only, no pickle)."""
    meta = json.loads(Path(metadata).read_text())
    model = build_model(
        meta["settings"],
        meta["classes"],
        meta["bands"],
        meta["n_phase"],
        meta["data_scale"],
    )
    model.data_limit = meta["data_limit"]
    model.network.load_state_dict(
        torch.load(weights, map_location="cpu", weights_only=True)
    )
    model.network.eval()
    return model


# --------------------------------------------------------------------------- #
# Sampling
# --------------------------------------------------------------------------- #
def first_sampling_step(schedule: NoiseSchedule, min_alpha_bar: float) -> int:
    """The largest step index ``t`` with ``ᾱ_t ≥ min_alpha_bar``.

    Where ``ᾱ_t`` is tiny (the last steps of the cosine schedule reach
    ``ᾱ ≈ 1e−9``) ``x_t`` holds no signal, and :func:`predict_start` divides
    the error of ``ε_θ`` by ``√ᾱ_t``; starting the samplers at this step from
    ``x ~ N(0, I)`` is accurate to ``√ᾱ_t`` and keeps that error bounded.
    """
    usable = np.flatnonzero(schedule.alpha_bar.numpy() >= min_alpha_bar)
    return int(usable.max()) if usable.size else 0


def predict_start(
    x: torch.Tensor, eps: torch.Tensor, alpha_bar: torch.Tensor, clip: float | None
) -> torch.Tensor:
    """``x̂_0 = (x_t − √(1 − ᾱ_t) ε_θ) / √ᾱ_t``, clipped to ``[−clip, clip]``.

    Near ``t = T`` the division by ``√ᾱ_t ≈ 0`` magnifies any error of
    ``ε_θ``; clipping to the range of the training data keeps the estimate
    physical (Ho et al. 2020 clip images to [−1, 1] the same way).
    """
    x0 = (x - (1 - alpha_bar).sqrt() * eps) / alpha_bar.sqrt()
    return x0.clamp(-clip, clip) if clip is not None else x0


@torch.no_grad()
def sample_ancestral(
    predict_noise,
    schedule: NoiseSchedule,
    shape: tuple,
    generator: torch.Generator,
    clip: float | None = None,
    first_step: int | None = None,
) -> torch.Tensor:
    """Ancestral sampling through every step (Ho et al. 2020, Alg. 2).

    ``x_{t−1} = μ̃_t(x_t, x̂_0) + σ_t z`` with the posterior mean
    ``μ̃_t = √ᾱ_{t−1} β_t/(1 − ᾱ_t) · x̂_0 + √α_t (1 − ᾱ_{t−1})/(1 − ᾱ_t) · x_t``,
    ``σ_t² = β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t)``, ``x̂_0`` from
    :func:`predict_start` and no noise at the last step. Unclipped, this is
    ``(x_t − β_t/√(1 − ᾱ_t) · ε_θ) / √α_t + σ_t z``.
    ``predict_noise(x, t)`` takes a batch and a batch of step indices; the
    walk starts at ``first_step`` (default ``T − 1``, see
    :func:`first_sampling_step`).
    """
    device = generator.device
    first = schedule.n_steps - 1 if first_step is None else first_step
    x = torch.randn(shape, generator=generator, device=device, dtype=torch.float64)
    alpha, alpha_bar, beta = (
        v.to(device) for v in (schedule.alphas, schedule.alpha_bar, schedule.betas)
    )
    one = torch.ones((), dtype=torch.float64, device=device)
    for t in range(first, -1, -1):
        steps = torch.full((shape[0],), t, device=device, dtype=torch.long)
        eps = predict_noise(x.float(), steps).double()
        x0 = predict_start(x, eps, alpha_bar[t], clip)
        previous = alpha_bar[t - 1] if t > 0 else one
        x = (
            previous.sqrt() * beta[t] / (1 - alpha_bar[t]) * x0
            + alpha[t].sqrt() * (1 - previous) / (1 - alpha_bar[t]) * x
        )
        if t > 0:
            variance = beta[t] * (1 - previous) / (1 - alpha_bar[t])
            noise = torch.randn(shape, generator=generator, device=device)
            x = x + variance.sqrt() * noise.double()
    return x.float()


def ddim_steps(first_step: int, n_sampling_steps: int) -> np.ndarray:
    """Evenly spaced step indices ``first_step … 0`` visited by the DDIM sampler."""
    count = min(n_sampling_steps, first_step + 1)
    return np.unique(np.round(np.linspace(0, first_step, count)).astype(int))[::-1]


@torch.no_grad()
def sample_ddim(
    predict_noise,
    schedule: NoiseSchedule,
    shape: tuple,
    generator: torch.Generator,
    n_sampling_steps: int = 50,
    eta: float = 0.0,
    clip: float | None = None,
    first_step: int | None = None,
) -> torch.Tensor:
    """DDIM sampling on a subsequence of steps (Song et al. 2021, eq. 12).

    From step ``t`` to the previous visited step ``s``:
    ``x̂_0 = (x_t − √(1 − ᾱ_t) ε_θ) / √ᾱ_t``,
    ``σ = η √((1 − ᾱ_s)/(1 − ᾱ_t)) √(1 − ᾱ_t/ᾱ_s)``,
    ``x_s = √ᾱ_s x̂_0 + √(1 − ᾱ_s − σ²) ε_θ + σ z``, with ``ᾱ = 1`` after
    the last step and ``x̂_0`` clipped as in :func:`predict_start`, in which
    case ``ε_θ`` is recomputed from the clipped ``x̂_0``. ``η = 0`` is
    deterministic given the starting noise; ``η = 1`` with every step is the
    ancestral sampler. The steps start at ``first_step`` (default ``T − 1``,
    see :func:`first_sampling_step`).
    """
    device = generator.device
    x = torch.randn(shape, generator=generator, device=device, dtype=torch.float64)
    alpha_bar = schedule.alpha_bar.to(device)
    first = schedule.n_steps - 1 if first_step is None else first_step
    steps = ddim_steps(first, n_sampling_steps)
    previous_steps = [*steps[1:], -1]
    for t, s in zip(steps, previous_steps, strict=True):
        batch_steps = torch.full((shape[0],), int(t), device=device, dtype=torch.long)
        eps = predict_noise(x.float(), batch_steps).double()
        a_t = alpha_bar[t]
        a_s = alpha_bar[s] if s >= 0 else torch.ones((), dtype=torch.float64)
        a_s = a_s.to(device)
        x0 = predict_start(x, eps, a_t, clip)
        if clip is not None:
            eps = (x - a_t.sqrt() * x0) / (1 - a_t).sqrt()
        sigma = eta * ((1 - a_s) / (1 - a_t) * (1 - a_t / a_s)).sqrt()
        x = a_s.sqrt() * x0 + (1 - a_s - sigma**2).clamp(min=0).sqrt() * eps
        if eta > 0 and s >= 0:
            noise = torch.randn(shape, generator=generator, device=device)
            x = x + sigma * noise.double()
    return x.float()


def sample_curves(
    model: DiffusionModel,
    counts: dict[str, int],
    seed: int,
    sampler: str = "ddim",
    n_sampling_steps: int = 50,
    eta: float = 0.0,
    batch_size: int = 512,
    device: str = "auto",
    min_alpha_bar: float = 1e-3,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``counts[class]`` shapes of each class.

    Both samplers start at :func:`first_sampling_step` for ``min_alpha_bar``
    and clip ``x̂_0`` to the range of the training curves.

    Returns
    -------
    curves : ndarray, shape (n, B, L), float32
        Normalised magnitudes, in the units of the GP stage's ``mean``.
    class_name : ndarray, shape (n,)
    """
    started = clock.perf_counter()
    target = choose_device(device)
    network = model.network.to(target)
    seed_everything(seed)
    generator = torch.Generator(device=target).manual_seed(seed)
    names = np.array([c for c in model.classes for _ in range(counts.get(c, 0))])
    unknown = sorted(set(counts) - set(model.classes))
    if unknown:
        raise ValueError(f"the model knows no class {unknown}; it has {model.classes}")
    shape = (len(model.bands), model.n_phase)
    first = first_sampling_step(model.schedule, min_alpha_bar)
    parts = []
    for start in range(0, len(names), batch_size):
        chunk = names[start : start + batch_size]
        c = torch.as_tensor(
            [model.classes.index(n) for n in chunk], device=target, dtype=torch.long
        )

        def predict_noise(x, t, c=c):
            return network(x, t, c)

        if sampler == "ancestral":
            x = sample_ancestral(
                predict_noise,
                model.schedule,
                (len(chunk), *shape),
                generator,
                model.data_limit,
                first,
            )
        elif sampler == "ddim":
            x = sample_ddim(
                predict_noise,
                model.schedule,
                (len(chunk), *shape),
                generator,
                n_sampling_steps,
                eta,
                model.data_limit,
                first,
            )
        else:
            raise ValueError(f"unknown sampler {sampler!r}; use 'ancestral' or 'ddim'")
        parts.append(x.cpu().numpy() * model.data_scale)
    curves = np.concatenate(parts) if parts else np.empty((0, *shape), np.float32)
    log.info(
        "sampled %d curves (%s) with the %s sampler in %.1f s",
        len(names),
        ", ".join(f"{c}: {counts.get(c, 0)}" for c in model.classes),
        sampler,
        clock.perf_counter() - started,
    )
    return curves.astype(np.float32), names


def save_samples(
    path: str | Path,
    curves: np.ndarray,
    class_name: np.ndarray,
    bands: list[str],
    phase: np.ndarray,
) -> None:
    """Sampled shapes as ``.npz``: ``curves`` (n, B, L), ``class_name``, ``bands``,
    ``phase``; written atomically, readable with ``allow_pickle=False``."""

    def write(tmp):
        with open(tmp, "wb") as handle:
            np.savez(
                handle,
                curves=curves.astype(np.float32),
                class_name=np.asarray(class_name, dtype=str),
                bands=np.asarray(bands, dtype=str),
                phase=np.asarray(phase, dtype=np.float64),
            )

    write_atomic(path, write)


def load_samples(path: str | Path) -> dict[str, np.ndarray]:
    """Read what :func:`save_samples` wrote."""
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in ("curves", "class_name", "bands", "phase")}


# --------------------------------------------------------------------------- #
# Synthetic observed light curves
# --------------------------------------------------------------------------- #
def periodic_interpolate(
    phase_grid: np.ndarray, values: np.ndarray, phase: np.ndarray
) -> np.ndarray:
    """Linear interpolation of a curve on a periodic phase grid in [0, 1)."""
    grid = np.concatenate([phase_grid, [phase_grid[0] + 1.0]])
    closed = np.concatenate([values, values[:1]])
    return np.interp(np.mod(phase, 1.0), grid, closed)


def place_on_cadence(
    shape: np.ndarray,
    phase_grid: np.ndarray,
    time: np.ndarray,
    mag_err: np.ndarray,
    period: float,
    offset: float,
    scale: float,
    phase_shift: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Magnitudes of one band of a synthetic star at the epochs ``time``.

    ``mag_i = offset + scale · s(((t_i − t_0)/P + φ) mod 1) + σ_i z_i`` with
    ``s`` the sampled normalised shape, ``t_0`` the first epoch, ``φ`` the
    phase shift, ``σ_i`` the real errors at those epochs and ``z_i ~ N(0, 1)``.
    """
    phase = (time - time[0]) / period + phase_shift
    clean = offset + scale * periodic_interpolate(phase_grid, shape, phase)
    return clean + mag_err * rng.standard_normal(len(time))


def synthesize_lightcurves(
    curves: np.ndarray,
    class_name: np.ndarray,
    sample_bands: list[str],
    phase_grid: np.ndarray,
    resampled: ResampledCurves,
    labels: pd.DataFrame,
    lightcurves: pd.DataFrame,
    seed: int,
    split: str = "train",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Turn sampled shapes into survey-like light curves.

    For each sampled shape of class ``c``: the epochs and errors come from a
    random real star of class ``c`` of ``split`` (its cadence donor); the
    period, offset and scale of every band from another random star of class
    ``c`` with a usable GP fit (its amplitude donor), so that period and
    amplitude keep their joint distribution within the class; the phase shift
    is uniform in [0, 1). See :func:`place_on_cadence`.

    Returns
    -------
    lightcurves : pandas.DataFrame
        Tidy rows (:data:`varsky.io.LIGHTCURVE_SCHEMA`), source ids
        ``synthetic-<number>`` (the class is in the catalogue).
    catalogue : pandas.DataFrame
        One row per synthetic star: ``source_id``, ``class_name``,
        ``split`` (``synthetic``), ``reference_period`` [d], ``phase_shift``,
        ``cadence_donor`` and ``amplitude_donor``.
    """
    started = clock.perf_counter()
    rng = np.random.default_rng(seed)
    chosen = labels[labels["split"] == split]
    band_index = {b: i for i, b in enumerate(resampled.bands)}
    sample_band_index = {b: i for i, b in enumerate(sample_bands)}

    by_star = {
        sid: {band: rows for band, rows in star.groupby("band", sort=False)}
        for sid, star in lightcurves[lightcurves["flags"] == 0].groupby(
            "source_id", sort=False
        )
    }
    usable = resampled.ok.all(axis=1) & np.isfinite(resampled.period)
    row_of = {sid: i for i, sid in enumerate(resampled.source_id) if usable[i]}

    rows, catalogue = [], []
    for number, (shape, name) in enumerate(zip(curves, class_name, strict=True)):
        members = chosen.loc[chosen["class_name"] == name, "source_id"]
        cadences = [s for s in members if s in by_star]
        amplitudes = [s for s in members if s in row_of]
        if not cadences or not amplitudes:
            raise DiffusionInputError(
                f"class {name!r} has no star of split {split!r} with both a light "
                "curve and a usable GP fit to take a cadence and amplitude from"
            )
        cadence = cadences[rng.integers(len(cadences))]
        donor = row_of[amplitudes[rng.integers(len(amplitudes))]]
        period = float(resampled.period[donor])
        shift = float(rng.uniform())
        source_id = f"synthetic-{number:06d}"
        for band, observed in by_star[cadence].items():
            if band not in sample_band_index or band not in band_index:
                continue
            time = observed["time"].to_numpy()
            err = observed["mag_err"].to_numpy()
            mag = place_on_cadence(
                shape[sample_band_index[band]],
                phase_grid,
                time,
                err,
                period,
                float(resampled.offset[donor, band_index[band]]),
                float(resampled.scale[donor, band_index[band]]),
                shift,
                rng,
            )
            rows.append(
                pd.DataFrame(
                    {
                        "source_id": source_id,
                        "band": band,
                        "time": time,
                        "mag": mag,
                        "mag_err": err,
                        "flags": np.zeros(len(time), dtype=np.int32),
                    }
                )
            )
        catalogue.append(
            {
                "source_id": source_id,
                "class_name": str(name),
                "split": "synthetic",
                "reference_period": period,
                "phase_shift": shift,
                "cadence_donor": cadence,
                "amplitude_donor": str(resampled.source_id[donor]),
            }
        )
    tidy = (
        pd.concat(rows, ignore_index=True)
        if rows
        else LIGHTCURVE_SCHEMA.empty_table().to_pandas()
    )
    log.info(
        "synthesized %d light curves with %d observations in %.1f s",
        len(catalogue),
        len(tidy),
        clock.perf_counter() - started,
    )
    return tidy, pd.DataFrame(catalogue)


# --------------------------------------------------------------------------- #
# Proof of realism
# --------------------------------------------------------------------------- #
def train_synthetic_test_real(
    real_features: pd.DataFrame,
    labels: pd.DataFrame,
    synthetic_features: pd.DataFrame,
    synthetic_labels: pd.DataFrame,
    params: dict,
    seed: int,
    threads: int = 1,
) -> pd.DataFrame:
    """Macro-F1 on the real test split of XGBoost trained three ways.

    ``real``: the real train split (train on real, test on real, TRTR);
    ``synthetic``: only synthetic stars (TSTR); ``real+synthetic``: both. The
    three share the feature columns common to both tables and the
    class-balanced training of :func:`varsky.classify.train_xgboost`.

    Returns
    -------
    pandas.DataFrame
        ``train_on``, ``n_train``, ``n_test``, ``macro_f1``, ``accuracy`` and
        ``f1_<class>`` per class.
    """
    columns = [
        c
        for c in feature_columns(real_features)
        if c in set(feature_columns(synthetic_features))
    ]
    real = labels[["source_id", "class_name", "split"]].merge(
        real_features, on="source_id"
    )
    synthetic = synthetic_labels[["source_id", "class_name"]].merge(
        synthetic_features, on="source_id"
    )
    classes = sorted(set(real["class_name"]))
    code = {c: i for i, c in enumerate(classes)}
    test = real[real["split"] == "test"]
    if test.empty:
        raise DiffusionInputError("the labels have no star in the test split")
    training_sets = {
        "real": real[real["split"] == "train"],
        "synthetic": synthetic,
        "real+synthetic": pd.concat(
            [real[real["split"] == "train"], synthetic], ignore_index=True
        ),
    }
    rows = []
    for name, train in training_sets.items():
        train = train[train["class_name"].isin(code)]
        # XGBoost wants the classes it sees numbered 0 … k−1; a class absent
        # from training is never predicted.
        present = sorted(set(train["class_name"].map(code)))
        local = train["class_name"].map(code).map(present.index).to_numpy()
        model = train_xgboost(train[columns], local, params, seed, threads)
        predicted = np.asarray(present)[
            model.predict_proba(test[columns]).argmax(axis=1)
        ]
        metrics = score(test["class_name"].map(code).to_numpy(), predicted, classes)
        rows.append(
            {
                "train_on": name,
                "n_train": len(train),
                "n_test": len(test),
                "macro_f1": metrics["macro_f1"],
                "accuracy": metrics["accuracy"],
                **{f"f1_{c}": metrics["per_class"][c]["f1"] for c in classes},
            }
        )
        log.info(
            "train on %s: macro-F1 %.3f on the real test split",
            name,
            rows[-1]["macro_f1"],
        )
    return pd.DataFrame(rows)


def classifier_two_sample_test(
    real: np.ndarray,
    synthetic: np.ndarray,
    params: dict,
    n_folds: int,
    seed: int,
    threads: int = 1,
) -> float:
    """Cross-validated ROC AUC of a classifier telling real from synthetic.

    Each curve (any shape, flattened) is one example; XGBoost is trained on
    ``n_folds − 1`` folds and scores the left-out fold, and the AUC of all
    out-of-fold scores is returned. 0.5 means the classifier cannot tell the
    two samples apart; 1.0 that it always can (Lopez-Paz & Oquab 2017).
    """
    x = np.concatenate(
        [real.reshape(len(real), -1), synthetic.reshape(len(synthetic), -1)]
    )
    y = np.concatenate([np.zeros(len(real), int), np.ones(len(synthetic), int)])
    scores = np.empty(len(y))
    folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for train, held_out in folds.split(x, y):
        model = xgb.XGBClassifier(
            objective="binary:logistic",
            tree_method="hist",
            random_state=seed,
            n_jobs=threads,
            **params,
        )
        model.fit(x[train], y[train])
        scores[held_out] = model.predict_proba(x[held_out])[:, 1]
    return float(roc_auc_score(y, scores))


def discriminate(
    resampled: ResampledCurves,
    labels: pd.DataFrame,
    samples: dict[str, np.ndarray],
    params: dict,
    n_folds: int,
    seed: int,
    threads: int = 1,
    split: str = "test",
) -> pd.DataFrame:
    """Classifier two-sample test between real and synthetic folded shapes.

    The real side is the GP mean of the stars of ``split`` (held out from the
    training of the model), the synthetic side as many samples of each class
    (fewer where fewer were drawn); both are phase-aligned by the same rule
    (:func:`align_phase`). One row for all classes together, then one per class:
    ``class_name``, ``n_real``, ``n_synthetic``, ``auc``.
    """
    real_set = training_set(resampled, labels, split=split)
    real_names = np.array(real_set.classes)[real_set.class_index]
    synthetic = align_phase(samples["curves"])
    rng = np.random.default_rng(seed)
    picked = []
    for name in real_set.classes:
        pool = np.flatnonzero(samples["class_name"] == name)
        want = min(len(pool), int((real_names == name).sum()))
        picked.extend(np.sort(rng.choice(pool, want, replace=False)))
    picked = np.array(picked, dtype=int)
    synthetic, synthetic_names = synthetic[picked], samples["class_name"][picked]

    rows = []
    for name in ["all", *real_set.classes]:
        mine = real_names == name if name != "all" else np.ones(len(real_names), bool)
        theirs = (
            synthetic_names == name
            if name != "all"
            else np.ones(len(synthetic_names), bool)
        )
        auc = np.nan
        if min(mine.sum(), theirs.sum()) >= n_folds:
            auc = classifier_two_sample_test(
                real_set.curves[mine], synthetic[theirs], params, n_folds, seed, threads
            )
        rows.append(
            {
                "class_name": name,
                "n_real": int(mine.sum()),
                "n_synthetic": int(theirs.sum()),
                "auc": auc,
            }
        )
        log.info("two-sample test %s: AUC %.3f", name, auc)
    return pd.DataFrame(rows)


def feature_column_values(features: pd.DataFrame, column: str) -> pd.Series:
    """A feature's values for the distance table; periods on a log10 scale.

    ``period`` is the period of the band with the highest periodogram power.
    """
    if column == "period" and column not in features:
        bands = [
            c[len("period_power_") :] for c in features if c.startswith("period_power_")
        ]
        powers = features[[f"period_power_{b}" for b in bands]].to_numpy()
        powers = np.where(np.isfinite(powers), powers, -np.inf)
        periods = features[[f"period_{b}" for b in bands]].to_numpy()
        values = periods[np.arange(len(features)), np.argmax(powers, axis=1)]
    else:
        values = features[column].to_numpy(dtype=float)
    if column.startswith("period"):
        values = np.log10(np.where(values > 0, values, np.nan))
    return pd.Series(values, index=features.index)


def feature_distances(
    real_features: pd.DataFrame,
    labels: pd.DataFrame,
    synthetic_features: pd.DataFrame,
    synthetic_labels: pd.DataFrame,
    columns: list[str],
) -> pd.DataFrame:
    """Wasserstein-1 distances between real and synthetic feature distributions.

    ``W_1(P, Q) = ∫ |F_P(x) − F_Q(x)| dx`` between the empirical distributions
    of one feature in one class (Villani 2009, doi:10.1007/978-3-540-71050-9).
    Periods are compared as ``log10(P / d)``. Beside the synthetic-versus-real
    distance (real = test split) stands the distance between the real train and
    test splits, the floor that finite samples alone give, and both divided by
    the real feature's standard deviation.

    Returns
    -------
    pandas.DataFrame
        ``class_name``, ``feature``, ``n_real``, ``n_synthetic``,
        ``wasserstein``, ``wasserstein_train_test``, ``real_std``,
        ``wasserstein_scaled``, ``wasserstein_train_test_scaled``.
    """
    real = labels[["source_id", "class_name", "split"]].merge(
        real_features, on="source_id"
    )
    synthetic = synthetic_labels[["source_id", "class_name"]].merge(
        synthetic_features, on="source_id"
    )
    rows = []
    for name in sorted(set(real["class_name"])):
        for column in columns:
            if column != "period" and (column not in real or column not in synthetic):
                raise DiffusionInputError(
                    f"feature {column!r} is not in both feature tables"
                )
            test = _finite(
                feature_column_values(real, column)[
                    (real["class_name"] == name) & (real["split"] == "test")
                ]
            )
            train = _finite(
                feature_column_values(real, column)[
                    (real["class_name"] == name) & (real["split"] == "train")
                ]
            )
            fake = _finite(
                feature_column_values(synthetic, column)[
                    synthetic["class_name"] == name
                ]
            )
            distance = _wasserstein(test, fake)
            floor = _wasserstein(test, train)
            spread = float(np.std(test, ddof=1)) if len(test) > 1 else np.nan
            rows.append(
                {
                    "class_name": name,
                    "feature": column,
                    "n_real": len(test),
                    "n_synthetic": len(fake),
                    "wasserstein": distance,
                    "wasserstein_train_test": floor,
                    "real_std": spread,
                    "wasserstein_scaled": distance / spread if spread else np.nan,
                    "wasserstein_train_test_scaled": floor / spread
                    if spread
                    else np.nan,
                }
            )
    return pd.DataFrame(rows)


def _finite(values: pd.Series) -> np.ndarray:
    values = values.to_numpy(dtype=float)
    return values[np.isfinite(values)]


def _wasserstein(a: np.ndarray, b: np.ndarray) -> float:
    return float(wasserstein_distance(a, b)) if len(a) and len(b) else np.nan
