"""Average the class probabilities of the compared models (soft vote)."""

import json
from pathlib import Path

import pandas as pd

from varsky.classify import soft_vote, write_json
from varsky.io import write_parquet
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
classes = json.loads(Path(snakemake.input.metrics).read_text())["classes"]
predictions = {
    name: pd.read_parquet(path)
    for name, path in zip(
        snakemake.params.models, snakemake.input.predictions, strict=True
    )
}
metrics, votes = soft_vote(
    predictions,
    classes,
    snakemake.params.calibration_bins,
    snakemake.params.calibration,
)
write_json(metrics, snakemake.output.metrics)
write_parquet(votes, snakemake.output.predictions)
