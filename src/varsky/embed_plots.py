"""Figures of the embedding stage, in the style of :mod:`varsky.plots`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from varsky.plots import MAGNITUDE_LABEL, _plot_one, class_colour, plt, pretty

REPRESENTATION_COLOURS = {"embedding": "#0072B2", "features": "#D55E00"}


def _order_labels(values: pd.Series) -> list[str]:
    """Label counts in increasing order, ``all`` last."""
    distinct = set(values.astype(str))
    numbers = sorted(int(v) for v in distinct if v != "all")
    return [str(n) for n in numbers] + (["all"] if "all" in distinct else [])


def plot_few_label(scores: pd.DataFrame) -> plt.Figure:
    """Test macro-F1 against labels per class, mean and spread of the draws."""
    order = _order_labels(scores["labels_per_class"])
    fig, ax = plt.subplots(figsize=(4.2, 3.2))
    for name, group in scores.groupby("representation", sort=True):
        stats = group.groupby("labels_per_class")["macro_f1"].agg(["mean", "std"])
        stats = stats.reindex(order)
        ax.errorbar(
            range(len(order)),
            stats["mean"],
            yerr=stats["std"].fillna(0),
            marker="o",
            capsize=3,
            color=REPRESENTATION_COLOURS.get(name),
            label=f"logistic on {name}",
        )
    ax.set_xticks(range(len(order)), order)
    ax.set_xlabel("labelled stars per class")
    ax.set_ylabel("test macro-F1")
    ax.set_ylim(0, 1)
    ax.legend(frameon=False, loc="lower right")
    return fig


def plot_map_by_class(points: pd.DataFrame, labels: pd.DataFrame) -> plt.Figure:
    """The two-dimensional map, one colour per class, unlabelled stars grey."""
    data = points.merge(labels[["source_id", "class_name"]], on="source_id", how="left")
    classes = sorted(data["class_name"].dropna().unique())
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    unlabelled = data["class_name"].isna()
    ax.scatter(data.loc[unlabelled, "x"], data.loc[unlabelled, "y"], s=2, c="0.75")
    for name in classes:
        rows = data[data["class_name"] == name]
        ax.scatter(
            rows["x"],
            rows["y"],
            s=3,
            color=class_colour(name, classes),
            label=f"{pretty(name)} ({len(rows)})",
        )
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(frameon=False, markerscale=3, loc="best")
    return fig


def plot_map_by_period(points: pd.DataFrame, periods: pd.Series) -> plt.Figure:
    """The same map coloured by log10 of the period in days."""
    log_period = np.log10(points["source_id"].map(periods).astype(float))
    fig, ax = plt.subplots(figsize=(4.9, 4.2))
    image = ax.scatter(points["x"], points["y"], s=3, c=log_period, cmap="viridis")
    fig.colorbar(image, ax=ax, label="log10 period (d)")
    ax.set_xticks([])
    ax.set_yticks([])
    return fig


def plot_hidden_class_auc(auc: pd.DataFrame) -> plt.Figure:
    """ROC AUC of the anomaly score for each hidden class, per representation."""
    classes = sorted(auc["hidden_class"].unique())
    names = sorted(auc["representation"].unique())
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(4.6, 3.2))
    for j, name in enumerate(names):
        rows = auc[auc["representation"] == name].set_index("hidden_class")
        ax.bar(
            np.arange(len(classes)) + (j - (len(names) - 1) / 2) * width,
            rows["auc"].reindex(classes),
            width,
            color=REPRESENTATION_COLOURS.get(name),
            label=name,
        )
    ax.axhline(0.5, color="0.4", ls="--", lw=1, label="chance")
    ax.set_xticks(range(len(classes)), [pretty(c) for c in classes])
    ax.set_xlabel("class hidden from encoder and detector")
    ax.set_ylabel("ROC AUC, hidden vs known")
    ax.set_ylim(0, 1.12)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.legend(frameon=False, loc="upper center", ncols=3)
    return fig


def plot_top_anomalies(
    lightcurves: pd.DataFrame,
    scores: pd.DataFrame,
    labels: pd.DataFrame,
    periods: pd.Series,
    ncols: int = 5,
) -> plt.Figure:
    """Folded light curves of the most anomalous stars, most anomalous first."""
    classes = sorted(labels["class_name"].unique())
    class_of = labels.set_index("source_id")["class_name"]
    nrows = int(np.ceil(len(scores) / ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(2.4 * ncols, 1.9 * nrows), squeeze=False
    )
    by_star = dict(tuple(lightcurves.groupby("source_id", sort=False)))
    for ax, (_, star) in zip(axes.flat, scores.iterrows(), strict=False):
        sid = star["source_id"]
        if sid not in by_star:
            ax.set_title(f"{sid}: no light curve")
            continue
        period = float(periods.get(sid, np.nan))
        _plot_one(ax, by_star[sid], period)
        name = class_of.get(sid)
        ax.set_title(
            f"#{star['rank']} {sid} P = {period:.4g} d\n"
            f"{pretty(name) if isinstance(name, str) else 'unlabelled'}",
            color=class_colour(name, classes) if isinstance(name, str) else "0.3",
        )
        legend = ax.get_legend()
        if legend is not None and star["rank"] != scores["rank"].min():
            legend.remove()
    for ax in axes[:, 0]:
        ax.set_ylabel(MAGNITUDE_LABEL)
    for ax in axes.flat[len(scores) :]:
        ax.set_visible(False)
    return fig
