"""Cross-validated macro-F1 and per-class F1 of every model, side by side."""

import pandas as pd

from varsky import plots
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
plots.use_style(snakemake.params.font_size)
table = pd.read_csv(snakemake.input[0])
fig = plots.plot_model_comparison(table, snakemake.params.n_folds)
plots.save_figure(fig, snakemake.output.png, dpi=snakemake.params.dpi)
