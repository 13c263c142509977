"""What raises XGBoost's cross-validated macro-F1 on one dataset: an ablation.

Every variant is scored by the workflow's protocol on the training stars only
(the shared stratified folds of ``classify.n_folds`` and ``seed``); the test
split is never looked at. Each line changes one thing against the line named
in its ``against`` column, and prints the cross-validated macro-F1 (mean ±
sample standard deviation over folds), the F1 of every class (from the pooled
out-of-fold predictions) and the seconds spent. Run after the workflow has
made the features (and, for the GP lines, the GP fits):

    PYTHONPATH=src python benchmarks/ablate_classify.py --results results/eros1 \\
        [--gp-fits 'results/eros1/gp/fits/*.parquet'] [--out ablation.csv]

The ``reference period`` line replaces the measured ``period`` column by the
catalogue's period: a diagnostic of how much better periods would give, never
a feature of the workflow.
"""

from __future__ import annotations

import argparse
import glob
import logging
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import pandas as pd
import yaml
from sklearn.metrics import f1_score

from varsky import classify
from varsky.config import load_schema, validate_config

REPO = Path(__file__).resolve().parents[1]


def score_variant(features, labels, folds, options, seed, threads, derived):
    """Cross-validate XGBoost as the ``classify`` rule does; no final model."""
    data, columns, classes, _ = classify.prepare_features(features, labels, derived)
    data = data[data["split"] == "train"].reset_index(drop=True)
    params = {
        **options["xgboost"],
        "validation_fraction": options["validation_fraction"],
    }
    fit_predict = classify.xgboost_fit_predict(
        columns, params, seed, threads, len(classes)
    )
    code = {c: i for i, c in enumerate(classes)}
    y = data["class_name"].map(code).to_numpy()
    fold = data["source_id"].map(folds.set_index("source_id")["fold"]).to_numpy()
    probabilities = np.zeros((len(data), len(classes)))
    scores = []
    for k in sorted(set(fold)):
        held = fold == k
        probabilities[held] = fit_predict(data[~held], y[~held], data[held])
        scores.append(f1_score(y[held], probabilities[held].argmax(1), average="macro"))
    per_class = f1_score(y, probabilities.argmax(1), average=None)
    return {
        "n_stars": len(data),
        "n_features": len(columns),
        "macro_f1_mean": float(np.mean(scores)),
        "macro_f1_std": float(np.std(scores, ddof=1)),
        **{f"f1_{c}": float(v) for c, v in zip(classes, per_class, strict=True)},
        "min_class_f1": float(per_class.min()),
    }


def gp_hyperparameters(fits: pd.DataFrame) -> pd.DataFrame:
    """Per star, the log10 of each band's GP hyperparameters (``gp_<name>_<band>``):
    signal amplitude and length scale (also in units of the period), trend
    amplitude and length scale, jitter; and the log-likelihood per point."""
    values = pd.DataFrame({"source_id": fits["source_id"], "band": fits["band"]})
    for name in (
        "signal_amplitude",
        "signal_length_scale",
        "trend_amplitude",
        "trend_length_scale",
        "jitter",
    ):
        values[name] = np.log10(fits[name].where(fits[name] > 0))
    values["length_scale_periods"] = np.log10(
        fits["signal_length_scale"] / fits["period"]
    )
    values["log_likelihood_per_point"] = fits["log_likelihood"] / fits["n_points"]
    wide = values.pivot(index="source_id", columns="band")
    wide.columns = [f"gp_{name}_{band}" for name, band in wide.columns]
    return wide.reset_index()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results/eros1", type=Path)
    parser.add_argument("--config", default=REPO / "config/config.yaml", type=Path)
    parser.add_argument("--gp-fits", default=None, help="glob of GP fit tables")
    parser.add_argument("--threads", default=2, type=int)
    parser.add_argument("--out", default=None, type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    config = validate_config(
        yaml.safe_load(args.config.read_text()),
        load_schema(REPO / "config/config.schema.yaml"),
    )
    options, seed = config["classify"], config["seed"]
    features = pd.read_parquet(args.results / "features/features.parquet")
    labels = pd.read_parquet(args.results / "ingest/labels.parquet")
    folds = classify.make_folds(labels, options["n_folds"], seed)
    # The settings before the search: depth 5, 60% of the features per tree,
    # early stopping on an inner 15% of the training stars.
    early = {
        **options["xgboost"],
        "n_estimators": 1500,
        "max_depth": 5,
        "colsample_bytree": 0.6,
        "early_stopping_rounds": 60,
    }
    chosen = options["xgboost"]
    derived = options["derived_features"]
    variants = [
        # name, against, features, xgboost settings, derived features
        ("generic features, early stopping", "", features, early, False),
        (
            "+ derived features",
            "generic features, early stopping",
            features,
            early,
            True,
        ),
        (
            "config trees, generic features",
            "generic features, early stopping",
            features,
            chosen,
            False,
        ),
        (
            "config (+ derived features)",
            "config trees, generic features",
            features,
            chosen,
            True,
        ),
    ]
    if args.gp_fits:
        fits = pd.concat(pd.read_parquet(p) for p in sorted(glob.glob(args.gp_fits)))
        with_gp = features.merge(gp_hyperparameters(fits), on="source_id", how="left")
        variants.append(
            (
                "+ GP hyperparameters",
                "config (+ derived features)",
                with_gp,
                chosen,
                derived,
            )
        )
    oracle = features.drop(columns="period").merge(
        labels[["source_id", "reference_period"]].rename(
            columns={"reference_period": "period"}
        ),
        on="source_id",
    )
    variants.append(
        (
            "reference period (diagnostic)",
            "config (+ derived features)",
            oracle,
            chosen,
            derived,
        )
    )

    rows = []
    for name, against, table, xgboost, derived in variants:
        started = time.perf_counter()
        result = score_variant(
            table,
            labels,
            folds,
            {**options, "xgboost": xgboost},
            seed,
            args.threads,
            derived,
        )
        rows.append(
            {
                "variant": name.strip(),
                "against": against.strip(),
                **result,
                "seconds": time.perf_counter() - started,
            }
        )
        per_class = "  ".join(
            f"{k[3:]} {v:.3f}" for k, v in result.items() if k.startswith("f1_")
        )
        print(
            f"{name.strip():34s} {result['macro_f1_mean']:.3f} ± "
            f"{result['macro_f1_std']:.3f}  {per_class}  "
            f"({rows[-1]['seconds']:.0f} s)",
            flush=True,
        )
    table = pd.DataFrame(rows)
    if args.out:
        table.to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
