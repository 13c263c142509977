"""Quality cuts on one shard; writes the kept observations and the counts."""

from varsky.clean import CleanParams, clean_lightcurves
from varsky.io import LIGHTCURVE_SCHEMA, read_lightcurves, write_parquet
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
params = CleanParams.from_config(snakemake.params.clean)

cleaned, report = clean_lightcurves(read_lightcurves(snakemake.input[0]), params)
write_parquet(report, snakemake.output.report)
write_parquet(cleaned, snakemake.output.lightcurves, schema=LIGHTCURVE_SCHEMA)
