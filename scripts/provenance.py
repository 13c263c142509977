"""The provenance record and page of this run."""

import json
from pathlib import Path

from varsky import provenance
from varsky.io import write_atomic
from varsky.logs import setup_job_logging
from varsky.report import write_table_page

setup_job_logging(snakemake.log[0])
manifests = dict(zip(snakemake.params.datasets, snakemake.input.manifests, strict=True))
record = provenance.collect(snakemake.params.config, snakemake.params.repo, manifests)

benchmarks = sorted(Path("results").glob("*/benchmarks/**/*.tsv"))
runtimes = provenance.rule_runtimes(benchmarks, "results")

text = json.dumps(record, indent=2, default=str)
write_atomic(snakemake.output.record, lambda tmp: Path(tmp).write_text(text))
page = provenance.render_html(record, runtimes)
write_atomic(snakemake.output.page, lambda tmp: Path(tmp).write_text(page))
write_atomic(snakemake.output.runtimes, lambda tmp: runtimes.to_csv(tmp, index=False))
write_table_page(
    snakemake.output.runtimes,
    snakemake.output.runtimes_page,
    "Wall time and peak memory of each benchmarked job",
)
