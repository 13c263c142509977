"""Synthetic survey light curves: sampled shapes on real cadences and errors."""

import pandas as pd

from varsky import diffusion
from varsky.io import (
    assign_shards,
    read_lightcurves,
    to_tidy,
    write_parquet,
    write_shards,
)
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
samples = diffusion.load_samples(snakemake.input.samples)

lightcurves, catalogue = diffusion.synthesize_lightcurves(
    samples["curves"],
    samples["class_name"],
    list(samples["bands"]),
    samples["phase"],
    diffusion.load_resampled(snakemake.input.resampled),
    pd.read_parquet(snakemake.input.labels),
    read_lightcurves(snakemake.input.lightcurves),
    seed=snakemake.params.seed,
)
shards = assign_shards(catalogue["source_id"], snakemake.params.shard_size)
write_shards(to_tidy(lightcurves), shards, snakemake.output.shards)
catalogue["shard"] = catalogue["source_id"].map(shards)
write_parquet(catalogue, snakemake.output.labels)
