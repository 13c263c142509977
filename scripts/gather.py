"""Concatenate per-shard Parquet tables into one."""

import pandas as pd

from varsky.io import write_parquet
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
table = pd.concat((pd.read_parquet(p) for p in snakemake.input), ignore_index=True)
write_parquet(table, snakemake.output[0])
