"""Variability features and periods of every star in one shard."""

from varsky.features import extract_features
from varsky.io import read_lightcurves, write_parquet
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
params = dict(snakemake.params.features, bands=snakemake.params.bands)
params["period"] = dict(params["period"], seed=snakemake.params.seed)

features = extract_features(read_lightcurves(snakemake.input[0]), params)
write_parquet(features, snakemake.output[0])
