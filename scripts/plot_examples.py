"""Example light curves per class, raw or folded at the found period."""

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

examples = plots.pick_examples(
    pd.read_parquet(snakemake.input.labels),
    set(lightcurves["source_id"]),
    snakemake.params.per_class,
    snakemake.params.seed,
)
fig = plots.plot_examples(
    lightcurves, examples, periods, folded=snakemake.params.folded
)
plots.save_figure(fig, snakemake.output.png, dpi=snakemake.params.dpi)
