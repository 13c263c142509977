"""GP fits of one shard: hyperparameters, detrended curves, resampled folds."""

import pandas as pd

from varsky import gp
from varsky.io import LIGHTCURVE_SCHEMA, read_lightcurves, write_parquet
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
periods = gp.periods_of(pd.read_parquet(snakemake.input.features))

fits, detrended, resampled = gp.process_shard(
    read_lightcurves(snakemake.input.lightcurves),
    periods,
    list(snakemake.params.bands),
    snakemake.params.gp,
    snakemake.params.seed,
)
write_parquet(fits, snakemake.output.fits)
write_parquet(detrended, snakemake.output.detrended, schema=LIGHTCURVE_SCHEMA)
gp.write_resampled(resampled, snakemake.output.resampled)
