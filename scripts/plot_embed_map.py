"""The 2-D map of the embedding, coloured by class or by period."""

import pandas as pd

from varsky import embed_plots
from varsky.embed import load_resampled
from varsky.logs import setup_job_logging
from varsky.plots import save_figure, use_style

setup_job_logging(snakemake.log[0])
use_style(snakemake.params.font_size)
points = pd.read_parquet(snakemake.input.points)
if snakemake.wildcards.colour == "class":
    fig = embed_plots.plot_map_by_class(points, pd.read_parquet(snakemake.input.labels))
else:
    curves = load_resampled(snakemake.input.resampled)
    periods = pd.Series(curves.period, index=curves.source_id)
    fig = embed_plots.plot_map_by_period(points, periods)
save_figure(fig, snakemake.output.png, dpi=snakemake.params.dpi)
