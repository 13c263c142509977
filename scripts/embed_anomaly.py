"""Anomaly score and rank of every embedded star."""

import pandas as pd

from varsky import embed
from varsky.io import write_parquet
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
matrix = embed.embedding_matrix(pd.read_parquet(snakemake.input[0]))
scores = embed.anomaly_scores(
    matrix, snakemake.params.anomaly, seed=snakemake.params.seed
)
write_parquet(scores, snakemake.output[0])
