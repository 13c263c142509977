"""Train on synthetic, test on real: macro-F1 on the real test split."""

import pandas as pd

from varsky.diffusion import train_synthetic_test_real
from varsky.io import write_atomic
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
table = train_synthetic_test_real(
    pd.read_parquet(snakemake.input.features),
    pd.read_parquet(snakemake.input.labels),
    pd.read_parquet(snakemake.input.synthetic_features),
    pd.read_parquet(snakemake.input.synthetic_labels),
    snakemake.params.xgboost,
    seed=snakemake.params.seed,
    threads=snakemake.threads,
)
write_atomic(snakemake.output[0], lambda tmp: table.to_csv(tmp, index=False))
