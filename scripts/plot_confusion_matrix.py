"""Confusion matrix of the classifier on the test split."""

import json
from pathlib import Path

from varsky import plots
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
plots.use_style(snakemake.params.font_size)
metrics = json.loads(Path(snakemake.input[0]).read_text())
fig = plots.plot_confusion_matrix(metrics)
plots.save_figure(fig, snakemake.output.png, dpi=snakemake.params.dpi)
