"""Classifier two-sample test between real and synthetic folded curves."""

import pandas as pd

from varsky import diffusion
from varsky.io import write_atomic
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
table = diffusion.discriminate(
    diffusion.load_resampled(snakemake.input.resampled),
    pd.read_parquet(snakemake.input.labels),
    diffusion.load_samples(snakemake.input.samples),
    snakemake.params.xgboost,
    n_folds=snakemake.params.folds,
    seed=snakemake.params.seed,
    threads=snakemake.threads,
)
write_atomic(snakemake.output[0], lambda tmp: table.to_csv(tmp, index=False))
