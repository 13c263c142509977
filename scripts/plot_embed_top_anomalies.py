"""Folded light curves of the most anomalous stars of the embedding."""

import pandas as pd

from varsky import embed_plots
from varsky.embed import load_resampled
from varsky.io import read_lightcurves
from varsky.logs import setup_job_logging
from varsky.plots import save_figure, use_style

setup_job_logging(snakemake.log[0])
use_style(snakemake.params.font_size)
scores = pd.read_parquet(snakemake.input.scores).nsmallest(snakemake.params.top, "rank")
lightcurves = read_lightcurves(snakemake.input.lightcurves)
curves = load_resampled(snakemake.input.resampled)
fig = embed_plots.plot_top_anomalies(
    lightcurves[lightcurves["source_id"].isin(scores["source_id"])],
    scores,
    pd.read_parquet(snakemake.input.labels),
    pd.Series(curves.period, index=curves.source_id),
)
save_figure(fig, snakemake.output.png, dpi=snakemake.params.dpi)
