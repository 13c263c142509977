"""Cross-match a dataset's stars with Gaia DR3's variability classification."""

import pandas as pd

from varsky import gaia
from varsky.io import write_parquet
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
labels = pd.read_parquet(snakemake.input.labels)
batch = {"batch_size": settings["batch_size"], "fmt": settings["format"]}

if snakemake.params.match == "positions":
    matches, failures = gaia.match_by_position(
        labels, archive, radius_arcsec=settings["radius_arcsec"], **batch
    )
else:
    matches, failures = gaia.match_by_id(labels, archive, **batch)
gaia.check_failures(failures, len(matches))

labelled = gaia.gaia_labels(
    labels, matches, settings["class_map"], settings["min_class_score"]
)
write_parquet(labelled, snakemake.output.crossmatch)
write_parquet(
    gaia.training_labels(
        labelled, snakemake.params.holdout_fraction, snakemake.params.seed
    ),
    snakemake.output.labels,
)
