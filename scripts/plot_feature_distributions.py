"""Distributions of a few key features per class."""

import pandas as pd

from varsky import plots
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
plots.use_style(snakemake.params.font_size)
fig = plots.plot_feature_distributions(
    pd.read_parquet(snakemake.input.features),
    pd.read_parquet(snakemake.input.labels),
    snakemake.params.columns,
)
plots.save_figure(fig, snakemake.output.png, dpi=snakemake.params.dpi)
