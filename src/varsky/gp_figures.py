"""Figures of the Gaussian-process stage, in the style of :mod:`varsky.plots`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from varsky import gp
from varsky.plots import (
    BAND_MARKERS,
    MAGNITUDE_LABEL,
    PHASE_LABEL,
    TIME_LABEL,
    class_colour,
    plt,
    pretty,
)

# The hyperparameters of the kernel gallery: unit amplitude, period and length
# scale (the quasi-periodic envelope three periods long), so that only the
# kernels' shapes differ.
GALLERY_VALUES = {
    "signal_amplitude": 1.0,
    "signal_length_scale": 1.0,
    "signal_alpha": 0.5,
    "signal_gamma": 5.0,
    "signal_period": 1.0,
}
GALLERY_ENVELOPE = 3.0
KERNEL_TITLES = {
    "squared_exponential": r"squared exponential  $a^2 e^{-\tau^2/2\ell^2}$",
    "rational_quadratic": (
        r"rational quadratic  $a^2 (1 + \tau^2/2\alpha\ell^2)^{-\alpha}$"
    ),
    "matern32": (r"Matérn-3/2  $a^2 (1 + \sqrt{3}\tau/\ell)\, e^{-\sqrt{3}\tau/\ell}$"),
    "periodic": r"periodic  $a^2 e^{-\Gamma \sin^2(\pi\tau/P)}$",
    "quasi_periodic": (
        r"quasi-periodic  $a^2 e^{-\Gamma \sin^2(\pi\tau/P)}"
        r"\, e^{-\tau^2/2\ell^2}$"
    ),
}


def plot_kernel_gallery(n_draws: int, seed: int) -> plt.Figure:
    """Draws from each kernel's prior, one panel per kernel of :data:`gp.KERNELS`."""
    rng = np.random.default_rng(seed)
    time = np.linspace(0.0, 5.0, 400)
    fig, axes = plt.subplots(
        len(gp.KERNELS), 1, figsize=(6.0, 1.5 * len(gp.KERNELS)), sharex=True
    )
    for ax, name in zip(axes, gp.KERNELS, strict=True):
        values = dict(GALLERY_VALUES)
        if name == "quasi_periodic":
            values["signal_length_scale"] = GALLERY_ENVELOPE
        for draw in gp.prior_draws(name, values, time, n_draws, rng):
            ax.plot(time, draw, lw=1)
        ax.set_title(KERNEL_TITLES.get(name, pretty(name)), loc="left")
        ax.set_ylabel("f(t)")
    axes[-1].set_xlabel(r"time $t$ (units of $P = \ell = 1$)")
    return fig


def plot_gp_examples(
    raw: pd.DataFrame,
    detrended: pd.DataFrame,
    fits: pd.DataFrame,
    resampled: dict,
    examples: pd.DataFrame,
    params: dict,
) -> plt.Figure:
    """Per example star: raw curve with GP mean ± 1σ, detrended curve, and the
    GP-resampled fold with ± 1σ, each band in its colour; bright up."""
    fig, axes = plt.subplots(
        len(examples), 3, figsize=(9.0, 1.7 * len(examples)), squeeze=False
    )
    raw_by_star = dict(tuple(raw.groupby("source_id", sort=False)))
    detrended_by_star = dict(tuple(detrended.groupby("source_id", sort=False)))
    fit_of = fits.set_index(["source_id", "band"])
    row_of_star = {s: i for i, s in enumerate(resampled["source_id"])}
    classes = list(dict.fromkeys(examples["class_name"]))

    for row, (sid, name) in enumerate(
        zip(examples["source_id"], examples["class_name"], strict=True)
    ):
        ax_raw, ax_detrended, ax_fold = axes[row]
        star = row_of_star[sid]
        period, epoch = resampled["period"][star], resampled["epoch"][star]
        for band, rows in raw_by_star[sid].groupby("band", sort=True):
            marker, colour = BAND_MARKERS.get(band, ("o", "0.3"))
            t, m, e = (rows[c].to_numpy() for c in ("time", "mag", "mag_err"))
            ax_raw.plot(t, m, marker, ms=1.5, color=colour, ls="none", label=band)
            fit_row = fit_of.loc[(sid, band)]
            if fit_row["status"] != "failed":
                grid = np.linspace(t.min(), t.max(), 600)
                mean, sigma = gp.predict_band(t, m, e, fit_row, grid, params)
                ax_raw.plot(grid, mean, color=colour, lw=0.8)
                ax_raw.fill_between(
                    grid, mean - sigma, mean + sigma, color=colour, alpha=0.25, lw=0
                )

            clean = detrended_by_star[sid]
            clean = clean[clean["band"] == band]
            ax_detrended.plot(
                clean["time"], clean["mag"], marker, ms=1.5, color=colour, ls="none"
            )
            _plot_fold(ax_fold, clean, resampled, star, band, period, epoch, colour)

        ax_raw.set_title(f"{sid}  {pretty(name)}", color=class_colour(name, classes))
        ax_raw.set_ylabel(MAGNITUDE_LABEL)
        ax_detrended.set_title("detrended")
        ax_fold.set_title(f"GP resampled, P = {period:.4g} d")
        for ax in (ax_raw, ax_detrended, ax_fold):
            ax.invert_yaxis()
        if row == len(examples) - 1:
            ax_raw.set_xlabel(TIME_LABEL)
            ax_detrended.set_xlabel(TIME_LABEL)
            ax_fold.set_xlabel(f"{PHASE_LABEL} (0 = maximum light)")
    axes[0, 0].legend(loc="best", frameon=False, markerscale=3)
    return fig


def _plot_fold(ax, rows, resampled, star, band, period, epoch, colour) -> None:
    """Folded points and the resampled GP, converted back to magnitudes."""
    bands = list(resampled["bands"])
    if band not in bands or not np.isfinite(epoch):
        return
    b = bands.index(band)
    phase = gp.fold(rows["time"].to_numpy(), period, epoch)
    marker = BAND_MARKERS.get(band, ("o", "0.3"))[0]
    ax.plot(phase, rows["mag"], marker, ms=1.5, color=colour, ls="none", alpha=0.6)
    if not resampled["ok"][star, b]:
        return
    offset, scale = resampled["offset"][star, b], resampled["scale"][star, b]
    mean = offset + scale * resampled["mean"][star, b]
    sigma = abs(scale) * resampled["std"][star, b]
    grid = resampled["phase"]
    ax.plot(grid, mean, color=colour, lw=1)
    ax.fill_between(grid, mean - sigma, mean + sigma, color=colour, alpha=0.3, lw=0)
