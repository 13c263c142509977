"""Features of the GP-detrended light curves of one shard, named detrended_*."""

from varsky import gp
from varsky.features import extract_features
from varsky.io import read_lightcurves, write_parquet
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
params = dict(snakemake.params.features, bands=snakemake.params.bands)

features = extract_features(read_lightcurves(snakemake.input[0]), params)
write_parquet(gp.detrended_features(features), snakemake.output[0])
