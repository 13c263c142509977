"""Multi-band and single-band periods of every star in one shard."""

from varsky.io import read_lightcurves, write_parquet
from varsky.logs import setup_job_logging
from varsky.multiband import multiband_shard

setup_job_logging(snakemake.log[0])
periods = multiband_shard(
    read_lightcurves(snakemake.input[0]), snakemake.params.multiband
)
write_parquet(periods, snakemake.output[0])
