"""Classify a survey with a model trained on another survey's mapped bands."""

import json
from pathlib import Path

import pandas as pd

from varsky import transfer
from varsky.classify import feature_columns, save_model
from varsky.io import write_atomic, write_parquet
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
model_from = snakemake.params.model_from
source_features = pd.read_parquet(snakemake.input.source_features)
columns = transfer.mapped_columns(
    feature_columns(source_features), model_from["bands"], snakemake.params.exclude
)
model, classes = transfer.train_mapped_model(
    source_features,
    pd.read_parquet(snakemake.input.source_labels),
    columns,
    snakemake.params.xgboost,
    seed=snakemake.params.seed,
    threads=snakemake.threads,
)
predictions = transfer.predict(
    model,
    classes,
    pd.read_parquet(snakemake.input.features),
    pd.read_parquet(snakemake.input.labels),
)
metrics = transfer.cross_survey_scores(
    predictions, classes, model_from["shared_classes"]
)
metrics.update(trained_on=model_from["dataset"], band_map=model_from["bands"])

save_model(model, snakemake.output.model)
write_parquet(predictions, snakemake.output.predictions)
text = json.dumps(metrics, indent=2)
write_atomic(snakemake.output.metrics, lambda tmp: Path(tmp).write_text(text))
