"""Two-dimensional map (t-SNE or UMAP) of the embedding."""

import pandas as pd

from varsky import embed
from varsky.io import write_parquet
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
params = snakemake.params.embed
embedding = pd.read_parquet(snakemake.input[0])
matrix = embed.representation_matrix(
    embedding[embedding["reason"].isna()],
    embed.embedding_columns(params["embedding_dim"]),
)
points = embed.embedding_map(matrix, params["map"], seed=snakemake.params.seed)
write_parquet(points, snakemake.output[0])
