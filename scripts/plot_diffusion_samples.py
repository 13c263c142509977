"""Real and synthetic folded shapes of each class, side by side."""

import pandas as pd

from varsky import diffusion, plots
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
plots.use_style(snakemake.params.font_size)
real = diffusion.training_set(
    diffusion.load_resampled(snakemake.input.resampled),
    pd.read_parquet(snakemake.input.labels),
    split="test",
)
fig = plots.plot_real_and_synthetic_shapes(
    real,
    diffusion.load_samples(snakemake.input.samples),
    snakemake.params.per_class,
    snakemake.params.seed,
)
plots.save_figure(fig, snakemake.output.png, dpi=snakemake.params.dpi)
