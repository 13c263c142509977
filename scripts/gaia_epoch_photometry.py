"""G, BP, RP epoch photometry of the Gaia sources matched to a dataset."""

import pandas as pd

from varsky import gaia
from varsky.io import LIGHTCURVE_SCHEMA, write_parquet
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
settings = snakemake.params.gaia
archive = gaia.Archive(
    settings["tap_url"],
    settings["datalink_url"],
    snakemake.params.cache,
    timeout_s=snakemake.params.download["timeout_s"],
    retries=snakemake.params.download["retries"],
)
ids = pd.read_parquet(snakemake.input.crossmatch)["gaia_source_id"].unique().tolist()
lightcurves, failures = gaia.fetch_epoch_photometry(
    ids, archive, batch_size=settings["batch_size"], fmt="csv"
)
gaia.check_failures(failures, len(lightcurves))
write_parquet(lightcurves, snakemake.output[0], schema=LIGHTCURVE_SCHEMA)
