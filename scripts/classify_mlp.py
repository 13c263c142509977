"""Cross-validate the multilayer perceptron on the features, then train it on
the train split."""

import pandas as pd

from varsky.classify import write_json
from varsky.io import write_parquet
from varsky.logs import setup_job_logging
from varsky.neural import classify_mlp, save_state

setup_job_logging(snakemake.log[0])
model, metrics, predictions = classify_mlp(
    pd.read_parquet(snakemake.input.features),
    pd.read_parquet(snakemake.input.labels),
    pd.read_parquet(snakemake.input.folds),
    snakemake.params.options,
    seed=snakemake.params.seed,
    threads=snakemake.threads,
    known_classes=snakemake.params.known_classes,
)
save_state(model, snakemake.output.model)
write_parquet(predictions, snakemake.output.predictions)
write_json(metrics, snakemake.output.metrics)
