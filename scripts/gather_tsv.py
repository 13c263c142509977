"""Concatenate tab-separated tables with the same columns into one."""

import pandas as pd

from varsky.io import write_atomic
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
table = pd.concat(
    (pd.read_csv(p, sep="\t") for p in snakemake.input), ignore_index=True
)
write_atomic(snakemake.output[0], lambda tmp: table.to_csv(tmp, sep="\t", index=False))
