"""One metrics table of the workflow as a sortable page of the report."""

from varsky.logs import setup_job_logging
from varsky.report import write_table_page

setup_job_logging(snakemake.log[0])
write_table_page(snakemake.input[0], snakemake.output[0], snakemake.params.title)
