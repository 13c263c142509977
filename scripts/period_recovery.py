"""Adopted periods against the reference periods, per class."""

import pandas as pd

from varsky.io import write_atomic
from varsky.logs import setup_job_logging
from varsky.period import period_params, recovery_table

setup_job_logging(snakemake.log[0])
table = recovery_table(
    pd.read_parquet(snakemake.input.features, columns=["source_id", "period"]),
    pd.read_parquet(snakemake.input.labels),
    snakemake.params.tolerance,
    period_params(snakemake.params.features),
)
write_atomic(snakemake.output[0], lambda tmp: table.to_csv(tmp, index=False))
