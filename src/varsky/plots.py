"""Figures of the workflow, in one consistent style.

Every figure function takes tables, returns a :class:`matplotlib.figure.Figure`
and leaves saving to :func:`save_figure`, which writes a PNG for the report and
a vector PDF for the paper. Fonts and sizes come from :data:`STYLE` alone;
magnitudes are plotted with bright stars up; each class keeps one colour in
every figure; every axis with a physical quantity names its unit.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from varsky.io import write_atomic

CLASS_COLOURS = {
    "eclipsing_binary": "#0072B2",
    "cepheid": "#D55E00",
    "rr_lyrae": "#009E73",
    "mira": "#CC79A7",
}
FALLBACK_COLOURS = ["#E69F00", "#56B4E9", "#F0E442", "#000000", "#999999"]
BAND_MARKERS = {
    "B": ("o", "#1f4e9c"),
    "R": ("s", "#b2182b"),
    "V": ("o", "#2f7d32"),
    "Z": ("v", "#4b2991"),
    "Y": ("^", "#2166ac"),
    "J": ("D", "#1a9850"),
    "H": ("s", "#f46d43"),
    "Ks": ("o", "#a50026"),
}
# The one style of every figure. DejaVu Sans ships with matplotlib, so the
# text looks the same on every machine; TrueType (42) fonts embedded in the
# PDFs keep the text editable and are accepted by journals.
FONT_SIZE = 9


def figure_style(font_size: float = FONT_SIZE) -> dict:
    """The matplotlib settings of every figure, text at ``font_size`` points
    (tick labels and legends one point smaller)."""
    small = font_size - 1
    return {
        "font.family": "DejaVu Sans",
        "mathtext.fontset": "dejavusans",
        "pdf.fonttype": 42,
        "ps.fonttype": 42,
        "font.size": font_size,
        "axes.titlesize": font_size,
        "axes.labelsize": font_size,
        "legend.fontsize": small,
        "xtick.labelsize": small,
        "ytick.labelsize": small,
        "figure.constrained_layout.use": True,
    }


def use_style(font_size: float = FONT_SIZE) -> None:
    """Draw the figures that follow in :func:`figure_style`."""
    plt.rcParams.update(figure_style(font_size))


STYLE = figure_style()
use_style()
# Embedding fonts in a PDF logs each step of the subsetting; keep job logs short.
logging.getLogger("fontTools").setLevel(logging.WARNING)


def class_colour(name: str, classes: list[str] | None = None) -> str:
    """The colour of a class, the same in every figure."""
    if name in CLASS_COLOURS:
        return CLASS_COLOURS[name]
    others = sorted(c for c in (classes or [name]) if c not in CLASS_COLOURS)
    return FALLBACK_COLOURS[others.index(name) % len(FALLBACK_COLOURS)]


def pretty(name: str) -> str:
    """A class or feature name for axis labels: ``rr_lyrae`` -> ``rr lyrae``."""
    return name.replace("_", " ")


# Units of the features that carry one, by the feature's name without its
# band (``robust_amplitude_R``) or bands (``color_B_R``); others are
# dimensionless (Stetson K, skewness, von Neumann eta, ...).
FEATURE_UNITS = {
    "period": "d",
    "amplitude": "mag",
    "robust_amplitude": "mag",
    "weighted_mean": "mag",
    "mean": "mag",
    "median": "mag",
    "standard_deviation": "mag",
    "weighted_std": "mag",
    "median_absolute_deviation": "mag",
    "color": "mag",
}
MAGNITUDE_LABEL = "magnitude (mag)"
PHASE_LABEL = "phase"
TIME_LABEL = "time (d)"


def feature_unit(feature: str) -> str:
    """The unit of a feature column, ``""`` where it is dimensionless.

    ``period`` and ``period_R`` are in days, ``robust_amplitude_R`` and
    ``color_B_R`` in magnitudes; ``period_power_R`` or ``stetson_k_R`` have none.
    """
    for name, unit in FEATURE_UNITS.items():
        bands = 2 if name == "color" else 1
        if re.fullmatch(rf"{name}(_[A-Za-z]+){{{bands}}}", feature) or (
            feature == name == "period"
        ):
            return unit
    return ""


def with_unit(feature: str) -> str:
    """An axis label for a feature column: ``robust amplitude R (mag)``."""
    unit = feature_unit(feature)
    return f"{pretty(feature)} ({unit})" if unit else pretty(feature)


def figure_paths(png: str | Path) -> tuple[Path, Path]:
    """The PNG of a figure and the PDF beside it, with the same stem."""
    png = Path(png)
    if png.suffix != ".png":
        raise ValueError(f"{png}: a figure is named by its PNG, ending in .png")
    return png, png.with_suffix(".pdf")


def save_figure(fig: plt.Figure, png: str | Path, dpi: int = 150) -> None:
    """Write ``fig`` as a PNG for the report and a PDF for the paper; close it.

    The PNG (``png``) is rasterised at ``dpi``; the PDF beside it (same stem,
    ``.pdf``) keeps lines and text as vectors with the fonts of :data:`STYLE`
    embedded. Neither file records a creation date, so the same figure gives
    the same bytes. Both are written atomically (:func:`varsky.io.write_atomic`).
    """
    png, pdf = figure_paths(png)
    write_atomic(
        png, lambda tmp: fig.savefig(tmp, dpi=dpi, metadata={"Software": None})
    )
    write_atomic(pdf, lambda tmp: fig.savefig(tmp, metadata={"CreationDate": None}))
    plt.close(fig)


def chosen_period(features: pd.DataFrame) -> pd.Series:
    """Each star's period: the ``period`` column, else the band of highest power."""
    if "period" in features:
        return features["period"]
    bands = [
        c[len("period_power_") :] for c in features if c.startswith("period_power_")
    ]
    powers = features[[f"period_power_{b}" for b in bands]].to_numpy()
    periods = features[[f"period_{b}" for b in bands]].to_numpy()
    best = np.nanargmax(np.where(np.isnan(powers), -np.inf, powers), axis=1)
    return pd.Series(periods[np.arange(len(features)), best], index=features.index)


def pick_examples(
    labels: pd.DataFrame, available: set[str], per_class: int, seed: int
) -> pd.DataFrame:
    """A seeded choice of ``per_class`` stars of each class that have data."""
    rng = np.random.default_rng(seed)
    usable = labels[labels["source_id"].isin(available)]
    chosen = []
    for _, group in usable.groupby("class_name", sort=True):
        take = min(per_class, len(group))
        chosen.append(group.iloc[np.sort(rng.choice(len(group), take, replace=False))])
    return pd.concat(chosen, ignore_index=True)


def plot_examples(
    lightcurves: pd.DataFrame,
    examples: pd.DataFrame,
    periods: pd.Series,
    folded: bool,
) -> plt.Figure:
    """Example light curves, one row per class, raw or folded at their period."""
    classes = list(dict.fromkeys(examples["class_name"]))
    ncols = int(examples["class_name"].value_counts().max())
    fig, axes = plt.subplots(
        len(classes), ncols, figsize=(2.6 * ncols, 1.9 * len(classes)), squeeze=False
    )
    by_star = dict(tuple(lightcurves.groupby("source_id", sort=False)))
    for row, name in enumerate(classes):
        stars = examples.loc[examples["class_name"] == name, "source_id"]
        for col in range(ncols):
            ax = axes[row, col]
            if col >= len(stars):
                ax.set_visible(False)
                continue
            sid = stars.iloc[col]
            period = float(periods.get(sid, np.nan))
            _plot_one(ax, by_star[sid], period if folded else None)
            title = f"{sid}" + (f"  P = {period:.4g} d" if folded else "")
            ax.set_title(title, color=class_colour(name, classes))
            if col == 0:
                ax.set_ylabel(f"{pretty(name)}\n{MAGNITUDE_LABEL}")
    return fig


def _plot_one(ax: plt.Axes, star: pd.DataFrame, period: float | None) -> None:
    for band, rows in star.groupby("band", sort=True):
        marker, colour = BAND_MARKERS.get(band, ("o", "0.3"))
        if period is not None and np.isfinite(period) and period > 0:
            phase = ((rows["time"] - rows["time"].min()) / period) % 1.0
            x = np.concatenate([phase, phase + 1.0])
            y = np.concatenate([rows["mag"], rows["mag"]])
            ax.set_xlabel(PHASE_LABEL)
        else:
            x, y = rows["time"].to_numpy(), rows["mag"].to_numpy()
            ax.set_xlabel(TIME_LABEL)
        ax.plot(x, y, marker, ms=2, color=colour, alpha=0.7, label=band, ls="none")
    ax.invert_yaxis()
    ax.legend(loc="best", frameon=False, markerscale=2)


def plot_feature_distributions(
    features: pd.DataFrame, labels: pd.DataFrame, columns: list[str]
) -> plt.Figure:
    """Histograms of a few features per class, normalised to unit area."""
    data = labels[["source_id", "class_name"]].merge(features, on="source_id")
    columns = [c for c in columns if c in data]
    classes = sorted(data["class_name"].unique())
    ncols = 3
    nrows = int(np.ceil(len(columns) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(8, 2.3 * nrows), squeeze=False)
    for ax, column in zip(axes.flat, columns, strict=False):
        values = data[column].astype(float)
        log_scale = column.startswith("period")
        if log_scale:
            values = np.log10(values.where(values > 0))
        finite = values[np.isfinite(values)]
        lo, hi = np.nanpercentile(finite, [1, 99]) if len(finite) else (0, 1)
        bins = np.linspace(lo, hi, 40)
        for name in classes:
            v = values[(data["class_name"] == name).to_numpy()]
            ax.hist(
                v[np.isfinite(v)],
                bins=bins,
                density=True,
                histtype="step",
                color=class_colour(name, classes),
                label=pretty(name),
            )
        ax.set_xlabel(f"log10 {with_unit(column)}" if log_scale else with_unit(column))
    for ax in axes.flat[len(columns) :]:
        ax.set_visible(False)
    axes.flat[0].legend(frameon=False)
    axes.flat[0].set_ylabel("density")
    return fig


def plot_confusion_matrix(metrics: dict) -> plt.Figure:
    """Confusion matrix of the test split, rows normalised to recall."""
    classes = metrics["confusion_matrix"]["classes"]
    counts = np.array(metrics["confusion_matrix"]["rows_true_columns_predicted"])
    recall = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(4.2, 3.8))
    image = ax.imshow(recall, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(
                j,
                i,
                f"{counts[i, j]}\n{recall[i, j]:.2f}",
                ha="center",
                va="center",
                color="white" if recall[i, j] > 0.6 else "black",
                fontsize=7,
            )
    ticks = [pretty(c) for c in classes]
    ax.set_xticks(range(len(classes)), ticks, rotation=30, ha="right")
    ax.set_yticks(range(len(classes)), ticks)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"test split, macro-F1 = {metrics['macro_f1']:.3f}")
    fig.colorbar(image, ax=ax, label="fraction of true class")
    return fig


def plot_survey_lightcurves(
    lightcurves: pd.DataFrame,
    stars: list[str],
    periods: pd.Series,
    folded: bool,
    ncols: int = 3,
) -> plt.Figure:
    """Light curves of chosen stars in every band, raw or folded at their period.

    Meant for unlabelled surveys: one panel per star, titled with its id (and
    period when folded), every band in its own marker and colour.
    """
    nrows = max(1, -(-len(stars) // ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(2.8 * ncols, 2.0 * nrows), squeeze=False
    )
    by_star = dict(tuple(lightcurves.groupby("source_id", sort=False)))
    for ax, sid in zip(axes.flat, [*stars, *[None] * axes.size], strict=False):
        if sid is None or sid not in by_star:
            ax.set_visible(False)
            continue
        period = float(periods.get(sid, np.nan))
        _plot_one(ax, by_star[sid], period if folded else None)
        ax.set_title(f"{sid}" + (f"  P = {period:.4g} d" if folded else ""))
        ax.set_ylabel(MAGNITUDE_LABEL)
    return fig


MODEL_COLOURS = {
    "xgboost": "#0072B2",
    "mlp": "#E69F00",
    "rnn": "#009E73",
    "soft_vote": "#56B4E9",
}


def model_colour(name: str, index: int = 0) -> str:
    """The colour of a model, the same in every figure."""
    return MODEL_COLOURS.get(name, FALLBACK_COLOURS[index % len(FALLBACK_COLOURS)])


def plot_model_comparison(table: pd.DataFrame, n_folds: int) -> plt.Figure:
    """Cross-validated macro-F1 and per-class F1 of each model, mean ± std over
    the ``n_folds`` folds."""
    classes = [
        c[len("f1_") : -len("_mean")]
        for c in table.columns
        if c.startswith("f1_") and c.endswith("_mean")
    ]
    groups = ["macro_f1", *classes]
    fig, ax = plt.subplots(figsize=(1.3 * len(groups) + 2, 3.2))
    width = 0.8 / max(len(table), 1)
    for i, (_, row) in enumerate(table.iterrows()):
        means = [row["macro_f1_mean"], *(row[f"f1_{c}_mean"] for c in classes)]
        stds = [row["macro_f1_std"], *(row[f"f1_{c}_std"] for c in classes)]
        x = np.arange(len(groups)) + (i - (len(table) - 1) / 2) * width
        ax.bar(
            x,
            means,
            width,
            yerr=stds,
            capsize=2,
            color=model_colour(row["model"], i),
            label=f"{row['model']} ({row['macro_f1_mean']:.3f})",
        )
    ax.set_xticks(range(len(groups)), ["macro F1", *(pretty(c) for c in classes)])
    ax.set_ylabel(f"F1, {n_folds}-fold mean ± std")
    lowest = np.nanmin(table[[c for c in table if c.endswith("_mean")]].to_numpy())
    ax.set_ylim(max(0.0, np.floor(lowest * 10) / 10 - 0.1), 1.0)
    ax.legend(frameon=False, loc="lower right", title="model (macro F1)")
    return fig


def plot_feature_importance(importance: pd.DataFrame, top: int) -> plt.Figure:
    """The ``top`` features of highest gain, most important at the top."""
    shown = importance.head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(5.0, 0.22 * len(shown) + 0.8))
    ax.barh(range(len(shown)), shown["gain"], color=MODEL_COLOURS["xgboost"])
    ax.set_yticks(range(len(shown)), [pretty(f) for f in shown["feature"]])
    ax.set_xlabel("fraction of total gain")
    ax.set_title(f"XGBoost: the {len(shown)} most important features")
    return fig


def plot_reliability(metrics: list[dict]) -> plt.Figure:
    """Accuracy against confidence of the out-of-fold predictions, per model:
    raw on the left, calibrated on the right (when the metrics hold a
    calibration), each labelled with its ECE and Brier score.

    A calibrated model lies on the diagonal; points below it are
    over-confident, points above it under-confident.
    """
    calibrated = any(m.get("calibration") for m in metrics)
    fig, axes = plt.subplots(
        1, 2 if calibrated else 1, figsize=(8.4 if calibrated else 4.2, 4.0)
    )
    axes = np.atleast_1d(axes)
    panels = [("raw probabilities", lambda m: m["cross_validation"]["reliability"])]
    if calibrated:
        panels.append(
            (
                "calibrated (cross-fitted)",
                lambda m: (
                    (m.get("calibration") or {})
                    .get("cross_validation", {})
                    .get("calibrated")
                ),
            )
        )
    for ax, (title, curve_of) in zip(axes, panels, strict=True):
        ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--", label="calibrated")
        for i, m in enumerate(metrics):
            curve = curve_of(m)
            if not curve:
                continue
            pairs = [
                (c, a)
                for c, a in zip(curve["confidence"], curve["accuracy"], strict=True)
                if c is not None and a is not None
            ]
            conf, acc = np.array(pairs).T if pairs else ([], [])
            ax.plot(
                conf,
                acc,
                "o-",
                ms=3,
                color=model_colour(m["model"], i),
                label=f"{m['model']} (ECE {curve['ece']:.3f}, "
                f"Brier {curve['brier']:.3f})",
            )
        ax.set_title(title, fontsize="medium")
        ax.set_xlabel("confidence (highest class probability)")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.legend(frameon=False, loc="upper left", fontsize="small")
    axes[0].set_ylabel("fraction correct")
    return fig


def plot_line_primer(result: dict) -> plt.Figure:
    """The noisy points with the gradient-descent and exact lines; the loss."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(7.5, 3.0))
    x, y = np.array(result["x"]), np.array(result["y"])
    grid = np.array([x.min(), x.max()])
    left.plot(x, y, "o", ms=3, color="0.4", label="data")
    for key, style, name in (
        ("least_squares", "-", "least squares"),
        ("gradient_descent", "--", "gradient descent"),
    ):
        m, c = result[key]["slope"], result[key]["intercept"]
        left.plot(grid, m * grid + c, style, label=f"{name}: y = {m:.3f} x + {c:.3f}")
    left.set_xlabel("x")
    left.set_ylabel("y")
    left.legend(frameon=False)
    loss = np.array(result["loss"])
    right.semilogy(np.arange(loss.size), loss, color=MODEL_COLOURS["xgboost"])
    right.set_xlabel("step")
    right.set_ylabel("mean squared error")
    return fig


def plot_forecast_primer(result: dict) -> plt.Figure:
    """The periodic series with its one-step forecasts; the training loss."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(8.0, 3.0))
    left.plot(result["time"], result["series"], ".", ms=3, color="0.5", label="data")
    t, f = np.array(result["forecast_time"]), np.array(result["forecast"])
    n = result["n_train"]
    left.plot(t[:n], f[:n], color=MODEL_COLOURS["mlp"], lw=1, label="fit (training)")
    left.plot(t[n:], f[n:], color=MODEL_COLOURS["rnn"], lw=1.2, label="forecast")
    left.axvline(t[n], color="0.3", lw=0.8, ls=":")
    left.set_xlabel("time step")
    left.set_ylabel("value")
    left.legend(frameon=False, loc="upper center", ncols=3, bbox_to_anchor=(0.5, -0.2))
    left.set_title(
        f"forecast MSE {result['forecast_mse']:.4f}, "
        f"noise variance {result['noise_variance']:.4f}"
    )
    right.semilogy(result["loss"], color=MODEL_COLOURS["rnn"])
    right.set_xlabel("epoch")
    right.set_ylabel("training MSE")
    return fig


def plot_real_and_synthetic_shapes(
    real, samples: dict, per_class: int, seed: int
) -> plt.Figure:
    """Folded shapes per class: real (GP mean) on the left, synthetic on the right.

    ``real`` is a :class:`varsky.diffusion.TrainingSet` (phase-aligned);
    ``samples`` the arrays of :func:`varsky.diffusion.load_samples`, aligned
    here by the same rule. Normalised magnitudes, bright up.
    """
    from varsky.diffusion import align_phase

    rng = np.random.default_rng(seed)
    synthetic = align_phase(samples["curves"])
    phase, bands = samples["phase"], [str(b) for b in samples["bands"]]
    classes = real.classes
    fig, axes = plt.subplots(
        len(classes),
        2 * per_class,
        figsize=(1.6 * 2 * per_class, 1.5 * len(classes)),
        squeeze=False,
        sharex=True,
    )
    for row, name in enumerate(classes):
        sides = [
            ("real", real.curves[real.class_index == row]),
            ("synthetic", synthetic[samples["class_name"] == name]),
        ]
        for side, (kind, curves) in enumerate(sides):
            chosen = rng.choice(len(curves), min(per_class, len(curves)), replace=False)
            for k in range(per_class):
                ax = axes[row, side * per_class + k]
                if k >= len(chosen):
                    ax.set_visible(False)
                    continue
                for b, band in enumerate(bands):
                    colour = BAND_MARKERS.get(band, ("o", "0.3"))[1]
                    ax.plot(phase, curves[chosen[k], b], color=colour, lw=1, label=band)
                ax.invert_yaxis()
                ax.set_title(kind, color=class_colour(name, classes))
                if k == 0 and side == 0:
                    ax.set_ylabel(f"{pretty(name)}\nnormalised mag")
                if row == len(classes) - 1:
                    ax.set_xlabel("phase")
    axes[0, 0].legend(frameon=False, loc="best")
    return fig


def plot_training_loss(history: pd.DataFrame, window: int = 50) -> plt.Figure:
    """Batch loss against the training step, with a running mean over ``window``."""
    fig, ax = plt.subplots(figsize=(4.5, 3.0))
    ax.plot(history["step"], history["loss"], color="0.75", lw=0.6, label="batch")
    smooth = history["loss"].rolling(window, min_periods=1).mean()
    ax.plot(history["step"], smooth, color="#0072B2", lw=1.5, label=f"mean of {window}")
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("noise-prediction loss (MSE)")
    ax.legend(frameon=False)
    return fig


def plot_period_recovery(
    features: pd.DataFrame,
    labels: pd.DataFrame,
    alias_frequency: float,
    alias_orders: int = 1,
) -> plt.Figure:
    """Adopted against reference period, log-log, one colour per class.

    Dashed lines mark twice and half the reference; dotted curves its
    sampling aliases ``1 / (1/P_ref ± k·alias_frequency)``.
    """
    table = labels.merge(features[["source_id", "period"]], on="source_id")
    table = table[np.isfinite(table["reference_period"]) & (table["period"] > 0)]
    classes = sorted(table["class_name"].unique())
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    if table.empty:
        ax.text(0.5, 0.5, "no reference periods", ha="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    low = 0.5 * min(table["reference_period"].min(), table["period"].min())
    high = 2.0 * max(table["reference_period"].max(), table["period"].max())
    grid = np.geomspace(low, high, 400)
    ax.plot(grid, grid, color="0.3", lw=0.8, label="P = P_ref")
    for factor in (2.0, 0.5):
        ax.plot(grid, factor * grid, color="0.5", lw=0.6, ls="--")
    for k in range(1, alias_orders + 1):
        for sign in (-1, 1):
            shifted = 1.0 / grid + sign * k * alias_frequency
            alias = np.where(
                shifted > 0, 1.0 / np.where(shifted > 0, shifted, 1), np.nan
            )
            ax.plot(grid, alias, color="0.6", lw=0.6, ls=":")
    for name in classes:
        rows = table[table["class_name"] == name]
        ax.scatter(
            rows["reference_period"],
            rows["period"],
            s=4,
            alpha=0.6,
            color=class_colour(name, classes),
            label=f"{pretty(name)} ({len(rows)})",
            edgecolors="none",
        )
    ax.set(xscale="log", yscale="log", xlim=(low, high), ylim=(low, high))
    ax.set_xlabel("reference period (d)")
    ax.set_ylabel("adopted period (d)")
    ax.legend(loc="upper left", frameon=False, markerscale=3)
    return fig
