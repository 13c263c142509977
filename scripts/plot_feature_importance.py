"""The most important features of the XGBoost model, by gain."""

import pandas as pd

from varsky import plots
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
plots.use_style(snakemake.params.font_size)
importance = pd.read_csv(snakemake.input[0])
fig = plots.plot_feature_importance(importance, snakemake.params.top)
plots.save_figure(fig, snakemake.output.png, dpi=snakemake.params.dpi)
