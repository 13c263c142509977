"""Adopted against reference period, log-log, with the alias curves."""

import pandas as pd

from varsky import plots
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
plots.use_style(snakemake.params.font_size)
fig = plots.plot_period_recovery(
    pd.read_parquet(snakemake.input.features, columns=["source_id", "period"]),
    pd.read_parquet(snakemake.input.labels),
    snakemake.params.alias_frequency,
    int(snakemake.params.alias_orders),
)
plots.save_figure(fig, snakemake.output.png, dpi=snakemake.params.dpi)
