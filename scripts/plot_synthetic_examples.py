"""Synthetic survey light curves of each class, folded at their period."""

from pathlib import Path

import pandas as pd

from varsky import plots
from varsky.io import read_lightcurves
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
plots.use_style(snakemake.params.font_size)
lightcurves = read_lightcurves(sorted(Path(snakemake.input.shards).glob("*.parquet")))
labels = pd.read_parquet(snakemake.input.labels)
examples = plots.pick_examples(
    labels,
    set(lightcurves["source_id"]),
    snakemake.params.per_class,
    snakemake.params.seed,
)
periods = pd.Series(labels["reference_period"].to_numpy(), index=labels["source_id"])
fig = plots.plot_examples(lightcurves, examples, periods, folded=True)
plots.save_figure(fig, snakemake.output.png, dpi=snakemake.params.dpi)
