"""ROC AUC of the anomaly score for one class hidden from encoder and detector."""

import pandas as pd

from varsky import embed
from varsky.classify import feature_columns
from varsky.io import write_atomic
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
features = pd.read_parquet(snakemake.input.features)
table = embed.hidden_class_evaluation(
    embed.load_resampled(snakemake.input.resampled),
    pd.read_parquet(snakemake.input.embedding),
    features,
    feature_columns(features),
    pd.read_parquet(snakemake.input.labels),
    hidden=snakemake.wildcards.hidden,
    params=snakemake.params.embed,
    anomaly=snakemake.params.anomaly,
    retrain_encoder=snakemake.params.retrain_encoder,
    seed=snakemake.params.seed,
    threads=snakemake.threads,
)
write_atomic(snakemake.output[0], lambda tmp: table.to_csv(tmp, sep="\t", index=False))
