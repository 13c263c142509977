"""Kernel gallery: draws from the prior of each GP kernel."""

from varsky import gp_figures, plots
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
plots.use_style(snakemake.params.font_size)
fig = gp_figures.plot_kernel_gallery(snakemake.params.draws, snakemake.params.seed)
plots.save_figure(fig, snakemake.output.png, dpi=snakemake.params.dpi)
