"""Macro-F1 of a logistic classifier with few labels: embedding against features."""

import pandas as pd

from varsky import embed
from varsky.classify import feature_columns
from varsky.io import write_atomic
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
features = pd.read_parquet(snakemake.input.features)
representations = {
    "embedding": embed.embedding_matrix(pd.read_parquet(snakemake.input.embedding)),
    "features": embed.representation_matrix(features, feature_columns(features)),
}
scores = embed.few_label_scores(
    representations,
    pd.read_parquet(snakemake.input.labels),
    snakemake.params.few_label,
    seed=snakemake.params.seed,
)
write_atomic(snakemake.output[0], lambda tmp: scores.to_csv(tmp, sep="\t", index=False))
