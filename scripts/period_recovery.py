"""Adopted periods against the reference periods: a table and a figure."""

import pandas as pd

from varsky import plots
from varsky.io import write_atomic
from varsky.logs import setup_job_logging
from varsky.period import period_params, recovery_table

setup_job_logging(snakemake.log[0])
features = pd.read_parquet(snakemake.input.features, columns=["source_id", "period"])
labels = pd.read_parquet(snakemake.input.labels)
period = period_params(snakemake.params.features)
table = recovery_table(features, labels, snakemake.params.tolerance, period)
write_atomic(snakemake.output.table, lambda tmp: table.to_csv(tmp, index=False))
fig = plots.plot_period_recovery(
    features, labels, period["alias_frequency"], int(period["alias_orders"])
)
plots.save_figure(fig, snakemake.output.figure, dpi=snakemake.params.dpi)
