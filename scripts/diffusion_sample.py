"""Draw folded shapes of every class from the trained diffusion model."""

import torch

from varsky import diffusion
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
settings = snakemake.params.settings

model = diffusion.load_model(snakemake.input.weights, snakemake.input.metadata)
curves, class_name = diffusion.sample_curves(
    model,
    {name: settings["samples_per_class"] for name in model.classes},
    seed=snakemake.params.seed,
    sampler=settings["sampler"],
    n_sampling_steps=settings["sampling_steps"],
    eta=settings["ddim_eta"],
    batch_size=settings["sample_batch_size"],
    device=settings["device"],
    min_alpha_bar=settings["min_alpha_bar"],
)
phase = diffusion.load_resampled(snakemake.input.resampled).phase
diffusion.save_samples(snakemake.output[0], curves, class_name, model.bands, phase)
