"""Reliability diagram of every model's out-of-fold probabilities."""

import json
from pathlib import Path

from varsky import plots
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
plots.use_style(snakemake.params.font_size)
metrics = [json.loads(Path(p).read_text()) for p in snakemake.input]
fig = plots.plot_reliability(metrics)
plots.save_figure(fig, snakemake.output.png, dpi=snakemake.params.dpi)
