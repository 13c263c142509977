"""ROC AUC per hidden class, embedding against features."""

import pandas as pd

from varsky import embed_plots
from varsky.logs import setup_job_logging
from varsky.plots import save_figure, use_style

setup_job_logging(snakemake.log[0])
use_style(snakemake.params.font_size)
fig = embed_plots.plot_hidden_class_auc(pd.read_csv(snakemake.input[0], sep="\t"))
save_figure(fig, snakemake.output.png, dpi=snakemake.params.dpi)
