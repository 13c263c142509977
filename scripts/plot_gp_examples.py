"""Real stars with their GP fit, detrended residuals and resampled fold."""

import pandas as pd

from varsky import gp, gp_figures, plots
from varsky.io import read_lightcurves
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
plots.use_style(snakemake.params.font_size)
raw = read_lightcurves(snakemake.input.lightcurves)
fits = pd.concat(pd.read_parquet(p) for p in snakemake.input.fits)
resampled = gp.read_resampled(snakemake.input.resampled)

examples = plots.pick_examples(
    pd.read_parquet(snakemake.input.labels),
    set(fits.loc[fits["status"] != "failed", "source_id"]),
    snakemake.params.per_class,
    snakemake.params.seed,
)
fig = gp_figures.plot_gp_examples(
    raw,
    read_lightcurves(snakemake.input.detrended),
    fits,
    resampled,
    examples,
    snakemake.params.gp,
)
plots.save_figure(fig, snakemake.output.png, dpi=snakemake.params.dpi)
