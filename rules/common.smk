# Shared by every rule file: configuration checks, path templates and the
# input functions (get_*). No rules here.

import math
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


# Resources: what one job of each rule asks a cluster scheduler for. A local run
# ignores them except where `--resources` caps a total. Memory (MB) and runtime
# (minutes) are a fixed part plus a part per 1000 stars of the job, measured
# with each rule's benchmark file on EROS-1 (a 1000-star features shard: 18 s,
# 210 MB) and given headroom. Per-shard rules scale with `ingest.shard_size`,
# so their request does not grow with the size of the survey; a rule over the
# whole dataset scales with the size of its input files instead. Each retry
# (profile `retries`) asks for `resources.retry_factor` times more than the
# last attempt.
JOB_COST = {
    # rule: (MB fixed, MB per 1000 stars, minutes fixed, minutes per 1000 stars)
    # Ingest is one job for the whole dataset: its runtime grows with it (the
    # simulated source makes 1000 stars in about 4 s), its memory need not.
    "ingest": (1000, 200, 10, 0.5),
    "clean": (500, 150, 5, 1),
    "features": (500, 300, 5, 3),
}
# Whole-dataset rules (gathers, classifiers, figures): MB fixed, MB per MB of
# input Parquet (a column-compressed table grows about tenfold in memory),
# minutes fixed, minutes per GB of input.
WHOLE_DATASET_COST = (1000, 10, 10, 30)
# Stars assumed for a dataset read whole when the config does not say how many
# (EROS-1 has 2912); a survey much larger needs a shard-wise reader anyway.
STARS_WHEN_UNKNOWN = 10_000


def dataset_stars(dataset):
    """Stars in a dataset where the config says so (simulated, max_stars)."""
    spec = config["data"][dataset]
    if spec["format"] == "simulated":
        return spec["simulation"]["n_stars"]
    return spec.get("max_stars")


def stars_in_memory(rule):
    """Stars one job of `rule` holds in memory at once: what its memory needs."""

    def stars(wildcards):
        # The readers of survey files hold a whole split; the simulated source
        # generates and writes one shard at a time.
        spec = config["data"][wildcards.dataset]
        if rule == "ingest" and spec["format"] != "simulated":
            return dataset_stars(wildcards.dataset) or STARS_WHEN_UNKNOWN
        return config["ingest"]["shard_size"]

    return stars


def stars_processed(rule):
    """Stars one job of `rule` works through: what its runtime needs."""

    def stars(wildcards):
        if rule == "ingest":
            return dataset_stars(wildcards.dataset) or STARS_WHEN_UNKNOWN
        return config["ingest"]["shard_size"]

    return stars


def _retry(attempt):
    return config["resources"]["retry_factor"] ** (attempt - 1)


def get_mem_mb(rule):
    """Resource function: memory of one job of `rule`, in MB."""
    fixed, per_1000, _, _ = JOB_COST[rule]
    stars = stars_in_memory(rule)

    def mem_mb(wildcards, attempt):
        need = fixed + per_1000 * stars(wildcards) / 1000
        return math.ceil(need * config["resources"]["mem_scale"] * _retry(attempt))

    return mem_mb


def get_runtime(rule):
    """Resource function: wall time of one job of `rule`, in minutes."""
    _, _, fixed, per_1000 = JOB_COST[rule]
    stars = stars_processed(rule)

    def runtime(wildcards, attempt):
        need = fixed + per_1000 * stars(wildcards) / 1000
        return math.ceil(need * config["resources"]["runtime_scale"] * _retry(attempt))

    return runtime


def get_whole_dataset_mem_mb(wildcards, input, attempt):
    """Resource function: memory of a whole-dataset job, from its input size."""
    fixed, per_mb, _, _ = WHOLE_DATASET_COST
    need = fixed + per_mb * input.size_mb
    return math.ceil(need * config["resources"]["mem_scale"] * _retry(attempt))


def get_whole_dataset_runtime(wildcards, input, attempt):
    """Resource function: wall time of a whole-dataset job, from its input size."""
    _, _, fixed, per_gb = WHOLE_DATASET_COST
    need = fixed + per_gb * input.size_mb / 1024
    return math.ceil(need * config["resources"]["runtime_scale"] * _retry(attempt))


def get_gpus(wildcards):
    """Resource function for neural rules: GPUs to request (0 or 1)."""
    return 1 if config["resources"]["gpu"] else 0


def get_final_outputs(wildcards):
    targets = [
        f"{CLASSIFICATION}/metrics.json",
        f"{RESULTS}/clean/rejected.csv",
        f"{FIGURES}/examples_raw.png",
        f"{FIGURES}/examples_folded.png",
        f"{FIGURES}/feature_distributions.png",
        f"{FIGURES}/confusion_matrix.png",
    ]
    return expand(targets, dataset=config["datasets"])
