"""Train the class-conditional diffusion model on the train split's curves."""

import pandas as pd
import torch

from varsky import diffusion
from varsky.io import write_atomic
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
settings = snakemake.params.settings

data = diffusion.training_set(
    diffusion.load_resampled(snakemake.input.resampled),
    pd.read_parquet(snakemake.input.labels),
)
model, history = diffusion.train_diffusion(
    data, settings, seed=snakemake.params.seed, device=settings["device"]
)
diffusion.save_model(model, snakemake.output.weights, snakemake.output.metadata)
write_atomic(snakemake.output.loss, lambda tmp: history.to_csv(tmp, index=False))
