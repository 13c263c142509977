"""The feature table with every band's median, the colours and the position."""

import pandas as pd

from varsky.io import read_lightcurves, write_parquet
from varsky.logs import setup_job_logging
from varsky.surveys import multiband_summary, survey_feature_table

setup_job_logging(snakemake.log[0])
summary = multiband_summary(
    read_lightcurves(snakemake.input.lightcurves),
    snakemake.params.bands,
    pd.read_parquet(snakemake.input.labels),
)
table = survey_feature_table(pd.read_parquet(snakemake.input.features), summary)
write_parquet(table, snakemake.output[0])
