"""ECE, Brier score and log-loss of every model, before and after calibration."""

import json
from pathlib import Path

from varsky.calibration import calibration_table
from varsky.io import write_atomic
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
metrics = [json.loads(Path(p).read_text()) for p in snakemake.input]
table = calibration_table(metrics)
write_atomic(snakemake.output[0], lambda tmp: table.to_csv(tmp, index=False))
