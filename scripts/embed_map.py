"""Two-dimensional map (t-SNE or UMAP) of the embedding."""

import pandas as pd

from varsky import embed
from varsky.io import write_parquet
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
matrix = embed.embedding_matrix(pd.read_parquet(snakemake.input[0]))
points = embed.embedding_map(matrix, snakemake.params.map, seed=snakemake.params.seed)
write_parquet(points, snakemake.output[0])
