"""Concatenate the per-shard resampled folded curves into one file."""

from varsky import gp
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
gp.write_resampled(gp.gather_resampled(list(snakemake.input)), snakemake.output[0])
