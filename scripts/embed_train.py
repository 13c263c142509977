"""Train the contrastive encoder on all stars and embed every star."""

from varsky import embed
from varsky.io import write_atomic, write_parquet
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
params = snakemake.params.embed
curves = embed.load_resampled(snakemake.input[0])
encoder, history = embed.train_encoder(
    curves, params, seed=snakemake.params.seed, threads=snakemake.threads
)
embedding = embed.embed(encoder, curves, params, params["inference_batch_size"])

embed.save_encoder(encoder, snakemake.output.encoder)
write_parquet(embedding, snakemake.output.embedding)
write_atomic(
    snakemake.output.history, lambda tmp: history.to_csv(tmp, sep="\t", index=False)
)
