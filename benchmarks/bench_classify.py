"""Training and prediction time of each classifier on one dataset.

Trains XGBoost, the MLP and the GRU once on the ``train`` split (the final
model of the protocol, early stopping included) and predicts every labelled
star; prints seconds of training and prediction, predictions per second, CPU
seconds, the total wall time and the peak resident memory. With
``--protocol``, each model instead runs the whole evaluation protocol of its
workflow rule (K-fold cross-validation, the final model, calibration), which
is what the workflow spends. Run after the workflow has made the features and
the cleaned shards:

    PYTHONPATH=src python benchmarks/bench_classify.py --results results/eros1 \
        --threads 2 [--protocol]
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

# As in the workflow (rules/common.smk): OpenMP threads must not spin while
# they wait, or a shared node's other jobs slow them many times over.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import pandas as pd
import torch
import yaml

from varsky import classify, neural
from varsky.config import load_schema, validate_config
from varsky.io import read_lightcurves

REPO = Path(__file__).resolve().parents[1]


def timed(label: str, fit_predict, keep: dict, predict, train, codes, rows) -> None:
    """Train once (``fit_predict`` keeps its model in ``keep``), then predict."""
    wall, cpu = time.perf_counter(), time.process_time()
    fit_predict(train, codes, train.iloc[:1])
    train_s, train_cpu = time.perf_counter() - wall, time.process_time() - cpu
    wall = time.perf_counter()
    predict(keep, rows)
    predict_s = time.perf_counter() - wall
    print(
        f"{label:8s} train {train_s:7.1f} s (cpu {train_cpu:7.1f} s)  "
        f"predict {predict_s:6.2f} s  {len(rows) / predict_s:10.0f} predictions/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results/eros1", type=Path)
    parser.add_argument("--config", default=REPO / "config/config.yaml", type=Path)
    parser.add_argument("--dataset", default="eros1")
    parser.add_argument("--threads", default=2, type=int)
    parser.add_argument("--models", default="xgboost,mlp,rnn")
    parser.add_argument(
        "--protocol",
        action="store_true",
        help="run each model's whole cross-validation protocol, as its rule does",
    )
    args = parser.parse_args()
    started = time.perf_counter()

    config = validate_config(
        yaml.safe_load(args.config.read_text()),
        load_schema(REPO / "config/config.schema.yaml"),
    )
    options, seed = config["classify"], config["seed"]
    torch.set_num_threads(args.threads)
    features = pd.read_parquet(args.results / "features/features.parquet")
    labels = pd.read_parquet(args.results / "ingest/labels.parquet")
    data, columns, classes, _ = classify.prepare_features(
        features, labels, options["derived_features"]
    )
    if args.protocol:
        protocol(args, config, features, labels)
        report_total(started, args.threads)
        return
    train = data[data["split"] == "train"]
    codes = train["class_name"].map({c: i for i, c in enumerate(classes)}).to_numpy()
    print(
        f"{len(train)} training stars, {len(data)} predicted, {len(columns)} features"
    )

    models = args.models.split(",")
    if "xgboost" in models:
        params = {
            **options["xgboost"],
            "validation_fraction": options["validation_fraction"],
        }
        keep: dict = {}
        fit = classify.xgboost_fit_predict(
            columns, params, seed, args.threads, len(classes), keep=keep
        )
        timed(
            "xgboost",
            fit,
            keep,
            lambda k, rows: k["model"].predict_proba(rows[columns]),
            train,
            codes,
            data,
        )
    if "mlp" in models:
        mlp = {**options["mlp"], "validation_fraction": options["validation_fraction"]}
        keep = {}
        fit = neural.mlp_fit_predict(columns, mlp, seed, len(classes), keep=keep)
        timed("mlp", fit, keep, _predict_mlp(columns), train, codes, data)
    if "rnn" in models:
        rnn = {**options["rnn"], "validation_fraction": options["validation_fraction"]}
        shards = sorted((args.results / "clean/shards").glob("*.parquet"))
        bands = config["data"][args.dataset]["bands"]
        ids, values, lengths = neural.band_sequences(
            read_lightcurves(shards), bands, rnn["max_length"]
        )
        sequences = {"source_ids": ids, "values": values, "lengths": lengths}
        known = train["source_id"].isin(set(ids)).to_numpy()
        keep = {}
        fit = neural.gru_fit_predict(sequences, rnn, seed, len(classes), keep=keep)
        timed(
            "rnn",
            fit,
            keep,
            _predict_gru(values, lengths),
            train[known],
            codes[known],
            np.arange(len(ids)),
        )
    report_total(started, args.threads)


def report_total(started: float, threads: int) -> None:
    """Total wall time, peak memory, device and threads."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"total wall time {time.perf_counter() - started:.1f} s; "
        f"peak memory {peak:.0f} MiB; device {neural.device()}; threads {threads}"
    )


def protocol(args, config, features, labels) -> None:
    """Each model's rule: cross-validation, final model, calibration, timed."""
    options, seed = config["classify"], config["seed"]
    folds = classify.make_folds(labels, options["n_folds"], seed)
    known = sorted(set(config["data"][args.dataset]["class_names"].values()))
    runs = {
        "xgboost": lambda: classify.classify(
            features, labels, folds, options, seed, args.threads, known
        )[1],
        "mlp": lambda: neural.classify_mlp(
            features, labels, folds, options, seed, args.threads, known
        )[1],
        "rnn": lambda: neural.classify_gru(
            read_lightcurves(sorted((args.results / "clean/shards").glob("*.parquet"))),
            labels,
            folds,
            config["data"][args.dataset]["bands"],
            options,
            seed,
            args.threads,
            known,
        )[1],
    }
    for name in args.models.split(","):
        wall, cpu = time.perf_counter(), time.process_time()
        metrics = runs[name]()
        cv = metrics["cross_validation"]["macro_f1"]
        print(
            f"{name:8s} protocol {time.perf_counter() - wall:7.1f} s "
            f"(cpu {time.process_time() - cpu:7.1f} s)  cross-validated macro-F1 "
            f"{cv['mean']:.3f} ± {cv['std']:.3f}"
        )


def _predict_mlp(columns):
    def predict(keep, rows):
        x = torch.as_tensor(keep["scaler"].transform(rows[columns].to_numpy()))
        return neural.predict_probabilities(keep["model"], [x], neural.mlp_forward)

    return predict


def _predict_gru(values, lengths):
    def predict(keep, rows):
        scaled = keep["scaler"].transform(values[rows], lengths[rows])
        inputs = [torch.as_tensor(scaled[:, b]) for b in range(values.shape[1])]
        inputs.append(torch.as_tensor(lengths[rows]))
        return neural.predict_probabilities(keep["model"], inputs, neural.gru_forward)

    return predict


if __name__ == "__main__":
    main()
