"""Tidy light-curve shards and the labels table from the downloaded files."""

import json
from pathlib import Path

from varsky.ingest import ingest
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
manifest = json.loads(Path(snakemake.input.manifest).read_text())

ingest(
    manifest["local_dir"],
    manifest,
    # The name lets error messages point at the config keys under data.<name>.
    dict(snakemake.params.spec, name=snakemake.wildcards.dataset),
    snakemake.output.shards,
    snakemake.output.labels,
    shard_size=snakemake.params.ingest["shard_size"],
    holdout_fraction=snakemake.params.ingest["holdout_fraction"],
    seed=snakemake.params.seed,
)
