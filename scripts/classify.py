"""Train XGBoost on the train split and score the test split."""

import json
from pathlib import Path

import pandas as pd

from varsky.classify import classify, save_model
from varsky.io import write_atomic, write_parquet
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
model, metrics, predictions = classify(
    pd.read_parquet(snakemake.input.features),
    pd.read_parquet(snakemake.input.labels),
    snakemake.params.xgboost,
    seed=snakemake.params.seed,
    threads=snakemake.threads,
)
save_model(model, snakemake.output.model)
write_parquet(predictions, snakemake.output.predictions)
text = json.dumps(metrics, indent=2)
write_atomic(snakemake.output.metrics, lambda tmp: Path(tmp).write_text(text))
