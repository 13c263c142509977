"""Test-split precision, recall and F1 of every model, class by class."""

import json
from pathlib import Path

from varsky.io import write_atomic
from varsky.logs import setup_job_logging
from varsky.report import holdout_table

setup_job_logging(snakemake.log[0])
metrics = [json.loads(Path(p).read_text()) for p in snakemake.input]
table = holdout_table(metrics)
write_atomic(snakemake.output[0], lambda tmp: table.to_csv(tmp, index=False))
