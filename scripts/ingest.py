"""Tidy light-curve shards and the labels table from the downloaded files."""

import json
from pathlib import Path

from varsky.ingest import ingest_ramp
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
manifest_path = Path(snakemake.input.manifest)
spec = snakemake.params.spec

ingest_ramp(
    manifest_path.parent,
    json.loads(manifest_path.read_text()),
    snakemake.output.shards,
    snakemake.output.labels,
    class_names={int(k): v for k, v in spec["class_names"].items()},
    shard_size=snakemake.params.ingest["shard_size"],
    holdout_fraction=snakemake.params.ingest["holdout_fraction"],
    seed=snakemake.params.seed,
    max_stars=spec["max_stars"],
)
