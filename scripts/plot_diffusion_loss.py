"""The diffusion model's training loss against the step."""

import pandas as pd

from varsky import plots
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
plots.use_style(snakemake.params.font_size)
fig = plots.plot_training_loss(pd.read_csv(snakemake.input[0]))
plots.save_figure(fig, snakemake.output.png, dpi=snakemake.params.dpi)
