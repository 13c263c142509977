"""Light curves of the first stars of a survey in every band, raw or folded."""

import pandas as pd

from varsky import plots
from varsky.io import read_lightcurves
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
plots.use_style(snakemake.params.font_size)
lightcurves = read_lightcurves(snakemake.input.lightcurves)
features = pd.read_parquet(snakemake.input.features)
periods = pd.Series(
    plots.chosen_period(features).to_numpy(), index=features["source_id"]
)

stars = list(pd.unique(lightcurves["source_id"]))[: snakemake.params.n_stars]
fig = plots.plot_survey_lightcurves(
    lightcurves, stars, periods, folded=snakemake.params.folded
)
plots.save_figure(fig, snakemake.output.png, dpi=snakemake.params.dpi)
