"""Wasserstein distances between real and synthetic feature distributions."""

import pandas as pd

from varsky.diffusion import feature_distances
from varsky.io import write_atomic
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
table = feature_distances(
    pd.read_parquet(snakemake.input.features),
    pd.read_parquet(snakemake.input.labels),
    pd.read_parquet(snakemake.input.synthetic_features),
    pd.read_parquet(snakemake.input.synthetic_labels),
    snakemake.params.columns,
)
write_atomic(snakemake.output[0], lambda tmp: table.to_csv(tmp, index=False))
