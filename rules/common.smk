# Shared by every rule file: configuration checks, path templates and the
# input functions (get_*). No rules here.

import os
import re
import sys
from pathlib import Path

# The library lives in src/; make it importable here and in every job, also
# where varsky is not installed (a per-stage conda environment, say).
SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, SRC)
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (SRC, os.environ.get("PYTHONPATH")) if p
)

from varsky.config import ConfigError, load_schema, validate_config

try:
    _validated = validate_config(
        config, load_schema(Path(workflow.basedir) / "config/config.schema.yaml")
    )
except ConfigError as error:
    raise WorkflowError(f"invalid configuration: {error}") from None
config.clear()
config.update(_validated)


wildcard_constraints:
    dataset=r"[A-Za-z0-9_-]+",
    shard=r"shard-\d+",


# Path templates: results/<dataset>/<stage>/...
RESULTS = "results/{dataset}"
DOWNLOAD_MANIFEST = f"{RESULTS}/download/manifest.json"
INGEST_SHARDS = f"{RESULTS}/ingest/shards"
LABELS = f"{RESULTS}/ingest/labels.parquet"
CLEAN_SHARD = f"{RESULTS}/clean/shards/{{shard}}.parquet"
CLEAN_REPORT = f"{RESULTS}/clean/reports/{{shard}}.parquet"
FEATURES_SHARD = f"{RESULTS}/features/shards/{{shard}}.parquet"
FEATURES = f"{RESULTS}/features/features.parquet"
CLASSIFICATION = f"{RESULTS}/classification"
GP_RESAMPLED = f"{RESULTS}/gp/resampled.npz"
DIFFUSION = f"{RESULTS}/diffusion"
DIFFUSION_WEIGHTS = f"{DIFFUSION}/model.pt"
DIFFUSION_METADATA = f"{DIFFUSION}/model.json"
DIFFUSION_LOSS = f"{DIFFUSION}/training_loss.csv"
DIFFUSION_SAMPLES = f"{DIFFUSION}/samples.npz"
SYNTHETIC_SHARDS = f"{DIFFUSION}/synthetic/shards"
SYNTHETIC_LABELS = f"{DIFFUSION}/synthetic/labels.parquet"
SYNTHETIC_FEATURES = f"{DIFFUSION}/synthetic/features.parquet"
REALISM = f"{DIFFUSION}/realism"
FIGURES = f"{RESULTS}/figures"
LOGS = "logs/{dataset}"
BENCHMARKS = f"{RESULTS}/benchmarks"

# Features shown in the per-class distribution figure, when present.
DISTRIBUTION_FEATURES = [
    "period",
    "amplitude_robust_R",
    "stetson_k_R",
    "von_neumann_eta_R",
    "skewness_R",
    "color_B_R",
]


# Each diffusion rule gets only the keys it uses: changing the sampler, say,
# reruns the sampling and what follows it, not the training.
TRAINING_KEYS = [
    "device",
    "schedule",
    "n_steps",
    "beta_start",
    "beta_end",
    "base_channels",
    "channel_multipliers",
    "training_steps",
    "batch_size",
    "learning_rate",
    "ema_decay",
]
SAMPLING_KEYS = [
    "device",
    "sampler",
    "sampling_steps",
    "ddim_eta",
    "samples_per_class",
    "sample_batch_size",
    "min_alpha_bar",
]


def diffusion_settings(keys):
    """The listed keys of the diffusion section of the config."""
    return {key: config["diffusion"][key] for key in keys}


def dataset_spec(wildcards):
    return config["data"][wildcards.dataset]


def get_shards(wildcards):
    """Shard names of a dataset, known once its ingest checkpoint has run."""
    shard_dir = checkpoints.ingest.get(dataset=wildcards.dataset).output.shards
    names = (Path(p).stem for p in os.listdir(shard_dir))
    return sorted(n for n in names if re.fullmatch(r"shard-\d+", n))


def get_per_shard(template):
    """Input function: ``template`` expanded over every shard of the dataset."""

    def inputs(wildcards):
        return expand(template, dataset=wildcards.dataset, shard=get_shards(wildcards))

    return inputs


def get_final_outputs(wildcards):
    targets = [
        f"{CLASSIFICATION}/metrics.json",
        f"{RESULTS}/clean/rejected.csv",
        f"{FIGURES}/examples_raw.png",
        f"{FIGURES}/examples_folded.png",
        f"{FIGURES}/feature_distributions.png",
        f"{FIGURES}/confusion_matrix.png",
        f"{REALISM}/train_synthetic_test_real.csv",
        f"{REALISM}/two_sample_test.csv",
        f"{REALISM}/feature_distances.csv",
        f"{FIGURES}/diffusion_samples.png",
        f"{FIGURES}/diffusion_training_loss.png",
        f"{FIGURES}/synthetic_examples.png",
    ]
    return expand(targets, dataset=config["datasets"])
