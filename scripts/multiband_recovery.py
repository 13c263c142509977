"""Fraction of reference periods recovered by the single- and multi-band searches."""

import pandas as pd

from varsky.io import write_atomic
from varsky.logs import setup_job_logging
from varsky.multiband import period_recovery

setup_job_logging(snakemake.log[0])
recovery = period_recovery(
    pd.read_parquet(snakemake.input.periods),
    pd.read_parquet(snakemake.input.labels),
    snakemake.params.multiband,
)
write_atomic(snakemake.output[0], lambda tmp: recovery.to_csv(tmp, index=False))
