"""Cross-validate XGBoost on the features, train it on the train split, score
the test split."""

import pandas as pd

from varsky.classify import classify, save_model, write_json
from varsky.io import write_atomic, write_parquet
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
model, metrics, predictions, importance = classify(
    pd.read_parquet(snakemake.input.features),
    pd.read_parquet(snakemake.input.labels),
    pd.read_parquet(snakemake.input.folds),
    snakemake.params.options,
    seed=snakemake.params.seed,
    threads=snakemake.threads,
    known_classes=snakemake.params.known_classes,
)
save_model(model, snakemake.output.model)
write_parquet(predictions, snakemake.output.predictions)
write_json(metrics, snakemake.output.metrics)
write_atomic(
    snakemake.output.importance, lambda tmp: importance.to_csv(tmp, index=False)
)
