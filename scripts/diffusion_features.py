"""Features of the synthetic light curves, shard by shard."""

from pathlib import Path

import pandas as pd

from varsky.features import extract_features
from varsky.io import read_lightcurves, write_parquet
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
params = dict(snakemake.params.features, bands=snakemake.params.bands)

shards = sorted(Path(snakemake.input[0]).glob("shard-*.parquet"))
features = pd.concat(
    (extract_features(read_lightcurves(shard), params) for shard in shards),
    ignore_index=True,
)
write_parquet(features, snakemake.output[0])
