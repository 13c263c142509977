"""Gather the per-shard cleaning counts: the rejected bands and the totals."""

import json
from pathlib import Path

import pandas as pd

from varsky.clean import rejected_stars
from varsky.io import write_atomic
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
report = pd.concat(pd.read_parquet(p) for p in snakemake.input.reports)
labels = pd.read_parquet(snakemake.input.labels)

read_errors = (
    labels.set_index("source_id")["read_error"] if "read_error" in labels else None
)
rejected = rejected_stars(report, labels["source_id"], read_errors)
write_atomic(snakemake.output.rejected, lambda tmp: rejected.to_csv(tmp, index=False))

totals = report.drop(columns=["source_id", "band", "reason"]).sum().astype(int)
summary = {"stars": int(labels["source_id"].nunique()), **totals.to_dict()}
summary["bands_removed"] = int((report["reason"] != "").sum())
text = json.dumps(summary, indent=2)
write_atomic(snakemake.output.summary, lambda tmp: Path(tmp).write_text(text))
counts = pd.DataFrame({"quantity": list(summary), "count": list(summary.values())})
write_atomic(snakemake.output.counts, lambda tmp: counts.to_csv(tmp, index=False))
