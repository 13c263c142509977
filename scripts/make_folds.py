"""Cut the training stars into the stratified folds every model shares."""

import pandas as pd

from varsky.classify import check_labels, make_folds
from varsky.io import write_parquet
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
labels = pd.read_parquet(snakemake.input.labels)
check_labels(labels, snakemake.params.known_classes)
folds = make_folds(labels, snakemake.params.n_folds, seed=snakemake.params.seed)
write_parquet(folds, snakemake.output[0])
