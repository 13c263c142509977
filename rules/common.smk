# Shared by all stages: configuration checks, path templates and the input
# functions (get_*).

import math
import os
import re
import sys

import pandas as pd
from pathlib import Path

# The library lives in src/; make this checkout's copy importable here and in
# every job (jobs inherit the environment), also where varsky is not installed,
# as in a per-stage conda environment. The workflow sets the variable itself,
# so users need not define it.
SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, SRC)
os.environ.update(
    PYTHONPATH=os.pathsep.join(p for p in (SRC, os.environ.get("PYTHONPATH")) if p)
)
# OpenMP threads (XGBoost, PyTorch) that spin while they wait make a job many
# times slower on a node whose cores other jobs share (on two shared cores, a
# 2-thread XGBoost fit took 110 s spinning against 4 s passive); a user's own
# setting is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

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
MULTIBAND_SHARD = f"{RESULTS}/features/multiband/{{shard}}.parquet"
MULTIBAND = f"{RESULTS}/features/multiband.parquet"
MULTIBAND_RECOVERY = f"{RESULTS}/features/period_recovery_multiband.csv"
PERIOD_RECOVERY = f"{RESULTS}/features/period_recovery.csv"
GP_FITS = f"{RESULTS}/gp/fits/{{shard}}.parquet"
GP_DETRENDED = f"{RESULTS}/gp/detrended/{{shard}}.parquet"
GP_RESAMPLED_SHARD = f"{RESULTS}/gp/resampled/{{shard}}.npz"
GP_RESAMPLED = f"{RESULTS}/gp/resampled.npz"
GP_FEATURES_SHARD = f"{RESULTS}/gp/features_detrended/{{shard}}.parquet"
GP_FEATURES = f"{RESULTS}/gp/features_detrended.parquet"
CLASSIFICATION = f"{RESULTS}/classification"
SURVEY_FEATURES = f"{RESULTS}/features/survey_features.parquet"
TRANSFER = f"{RESULTS}/classification/transfer"
GAIA = f"{RESULTS}/gaia"
GAIA_LABELS = f"{GAIA}/labels.parquet"
EMBED = f"{RESULTS}/embed"
FOLDS = f"{CLASSIFICATION}/folds.parquet"
# Neural networks compared with XGBoost; each writes model.pt, metrics.json and
# predictions.parquet into {CLASSIFICATION}/<name>/.
NETWORKS = ["mlp", "rnn"]
MODELS = ["xgboost", *NETWORKS]
COMPARISON = f"{CLASSIFICATION}/comparison.csv"
CALIBRATION = f"{CLASSIFICATION}/calibration.csv"
PRIMER = "results/primer"
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

# Report categories, one per stage. The report lists categories in
# alphabetical order, so each name starts with the stage's number.
CATEGORY = {
    "data": "1. Data",
    "clean": "2. Cleaning",
    "features": "3. Features and periods",
    "gp": "4. Gaussian processes",
    "classify": "5. Classification",
    "embed": "6. Embedding",
    "diffusion": "7. Diffusion",
    "primer": "8. Primer",
    "provenance": "9. Provenance",
}

# Metrics tables shown in the report as sortable pages (Snakemake's report
# offers CSV files only as downloads): name -> (category key, table, title).
# Each table's caption is its branch of report/tables.rst.
REPORT_TABLES = {
    "rejected_bands": (
        "clean",
        f"{RESULTS}/clean/rejected.csv",
        "Bands and stars removed by the cleaning",
    ),
    "cleaning_counts": (
        "clean",
        f"{RESULTS}/clean/summary.csv",
        "Observations and bands removed by each cut",
    ),
    "period_recovery_multiband": (
        "features",
        MULTIBAND_RECOVERY,
        "Recovery of the reference periods, multi-band and single-band",
    ),
    "period_recovery": (
        "features",
        PERIOD_RECOVERY,
        "Recovery of the reference periods by class",
    ),
    "model_comparison": (
        "classify",
        COMPARISON,
        "Cross-validated scores of every model",
    ),
    "holdout_metrics": (
        "classify",
        f"{CLASSIFICATION}/holdout_metrics.csv",
        "Test-split precision, recall and F1 of every model",
    ),
    "few_label": (
        "embed",
        f"{EMBED}/few_label.tsv",
        "Few-label classification: embedding against features",
    ),
    "hidden_class_auc": (
        "embed",
        f"{EMBED}/hidden_class_auc.tsv",
        "Anomaly AUROC of each hidden class",
    ),
    "train_synthetic_test_real": (
        "diffusion",
        f"{REALISM}/train_synthetic_test_real.csv",
        "Train on synthetic, test on real",
    ),
    "two_sample_test": (
        "diffusion",
        f"{REALISM}/two_sample_test.csv",
        "Real against synthetic: two-sample classifier AUC",
    ),
    "feature_distances": (
        "diffusion",
        f"{REALISM}/feature_distances.csv",
        "Wasserstein distances of real and synthetic features",
    ),
}
REPORT_TABLE = f"{RESULTS}/report/{{table}}.html"


def get_report_table_source(wildcards):
    """The table behind a report page."""
    return REPORT_TABLES[wildcards.table][1].format(dataset=wildcards.dataset)


def get_report_table_category(wildcards):
    """The report category of a table: its stage's."""
    return CATEGORY[REPORT_TABLES[wildcards.table][0]]


# Features shown in the per-class distribution figure, when present: these of
# the dataset's reddest band, and the colour of its two bluest bands.
DISTRIBUTION_FEATURES = [
    "robust_amplitude",
    "stetson_k",
    "von_neumann_eta",
    "skewness",
]


def get_distribution_features(wildcards):
    bands = config["data"][wildcards.dataset]["bands"]
    columns = ["period", *(f"{name}_{bands[-1]}" for name in DISTRIBUTION_FEATURES)]
    if len(bands) > 1:
        columns.append(f"color_{bands[0]}_{bands[1]}")
    return columns


# The embed keys that change the encoder; the evaluation keys are left out so
# that changing them does not retrain it.
EMBED_TRAINING = {
    key: value
    for key, value in config["embed"].items()
    if key not in ("few_label", "map", "anomaly", "hidden_class")
}

# The anomaly detector's keys; the number of stars shown is the figure's.
EMBED_ANOMALY = {
    key: value for key, value in config["embed"]["anomaly"].items() if key != "top"
}


# Each diffusion rule gets only the keys it uses, so changing the sampler, say,
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


def get_distance_features(wildcards):
    """Diffusion's compared features, per band ones in the reddest band."""
    bands = config["data"][wildcards.dataset]["bands"]
    per_band = ("period",) + tuple(f"_{band}" for band in bands)
    return [
        name if name.endswith(per_band) else f"{name}_{bands[-1]}"
        for name in config["diffusion"]["distance_features"]
    ]


def diffusion_settings(keys):
    """The listed keys of the diffusion section of the config."""
    return {key: config["diffusion"][key] for key in keys}


def dataset_spec(wildcards):
    return config["data"][wildcards.dataset]


# Keys of a dataset entry that only later stages read: changing them must not
# download or ingest the dataset again.
DOWNSTREAM_KEYS = {"variability_bands", "clean", "model_from", "gaia"}
DOWNLOAD_KEYS = {"format", "path", "base_url", "files", "optional_files"}


def get_download_spec(wildcards):
    """The part of a dataset entry that says where its files come from."""
    spec = dataset_spec(wildcards)
    return {k: v for k, v in spec.items() if k in DOWNLOAD_KEYS}


def get_ingest_spec(wildcards):
    """The part of a dataset entry that the readers use."""
    spec = dataset_spec(wildcards)
    return {k: v for k, v in spec.items() if k not in DOWNSTREAM_KEYS}


def get_clean_params(wildcards):
    """The global clean settings with the dataset's own `clean` merged over them."""
    from varsky.clean import merged_params

    return merged_params(config["clean"], dataset_spec(wildcards).get("clean"))


def get_variability_bands(wildcards):
    """Bands the variability features and periods are computed on."""
    spec = dataset_spec(wildcards)
    return spec.get("variability_bands") or spec["bands"]


def get_training_labels(wildcards):
    """The labels a dataset is trained and scored on: Gaia's when it has a
    `gaia` entry, else the survey's own."""
    template = GAIA_LABELS if dataset_spec(wildcards).get("gaia") else LABELS
    return template.format(dataset=wildcards.dataset)


def get_model_source(template):
    """Input function: ``template`` for the dataset named in ``model_from``."""

    def inputs(wildcards):
        return template.format(dataset=dataset_spec(wildcards)["model_from"]["dataset"])

    return inputs


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


def classify_options(model):
    """The ``classify`` config without the sections of the other models, so that
    changing one model's settings reruns only that model."""
    others = {"xgboost", "mlp", "rnn"} - {model}
    return {k: v for k, v in config["classify"].items() if k not in others}


def get_known_classes(wildcards):
    """Class names the dataset defines; labels outside them are refused."""
    names = config["data"][wildcards.dataset].get("class_names")
    return sorted(set(names.values())) if names else None


def get_model_predictions(wildcards):
    """Predictions of every trained model, in the order of ``MODELS``."""
    folder = CLASSIFICATION.format(dataset=wildcards.dataset)
    networks = [f"{folder}/{name}/predictions.parquet" for name in NETWORKS]
    return [f"{folder}/predictions.parquet", *networks]


def get_model_metrics(wildcards):
    """Metrics of every compared model: the trained ones, then their soft vote."""
    folder = CLASSIFICATION.format(dataset=wildcards.dataset)
    networks = [f"{folder}/{name}/metrics.json" for name in NETWORKS]
    return [f"{folder}/metrics.json", *networks, f"{folder}/soft_vote/metrics.json"]


def get_hidden_classes(wildcards):
    """One table per class of the dataset, each from hiding that class."""
    names = dataset_spec(wildcards).get("class_names")
    if names:
        names = sorted(set(names.values()))
    else:
        # Classes read from the data itself are known once ingest has run.
        labels = checkpoints.ingest.get(dataset=wildcards.dataset).output.labels
        names = sorted(
            pd.read_parquet(labels, columns=["class_name"])["class_name"]
            .dropna()
            .unique()
        )
    return expand(
        f"{EMBED}/hidden_class/{{hidden}}.tsv",
        dataset=wildcards.dataset,
        hidden=names,
    )


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


def stars_in_memory(rule_name):
    """Stars one job of `rule_name` holds at once: what its memory needs."""

    def stars(wildcards):
        # The readers of survey files hold a whole split; the simulated source
        # generates and writes one shard at a time.
        spec = config["data"][wildcards.dataset]
        if rule_name == "ingest" and spec["format"] != "simulated":
            return dataset_stars(wildcards.dataset) or STARS_WHEN_UNKNOWN
        return config["ingest"]["shard_size"]

    return stars


def stars_processed(rule_name):
    """Stars one job of `rule_name` works through: what its runtime needs."""

    def stars(wildcards):
        if rule_name == "ingest":
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


def get_dataset_outputs(wildcards):
    """Every dataset's final files (all but the provenance).

    A dataset classified by another dataset's model (``model_from``) gets its
    survey feature table, the mapped model's predictions and cross-survey
    scores, and its light curves in every band; any other dataset is trained
    and scored on its own labels.
    """
    own_labels = [
        f"{CLASSIFICATION}/metrics.json",
        f"{RESULTS}/clean/rejected.csv",
        f"{FIGURES}/examples_raw.png",
        f"{FIGURES}/examples_folded.png",
        f"{FIGURES}/feature_distributions.png",
        f"{FIGURES}/confusion_matrix.png",
        MULTIBAND_RECOVERY,
        PERIOD_RECOVERY,
        f"{FIGURES}/period_recovery.png",
        f"{EMBED}/anomaly_scores.parquet",
        f"{FIGURES}/embed_few_label.png",
        f"{FIGURES}/embed_map_class.png",
        f"{FIGURES}/embed_map_period.png",
        f"{FIGURES}/embed_hidden_class_auc.png",
        f"{FIGURES}/embed_top_anomalies.png",
        GP_RESAMPLED,
        GP_FEATURES,
        f"{FIGURES}/gp_kernels.png",
        f"{FIGURES}/gp_examples.png",
        COMPARISON,
        CALIBRATION,
        f"{FIGURES}/model_comparison.png",
        f"{FIGURES}/feature_importance.png",
        f"{FIGURES}/reliability.png",
        f"{REALISM}/train_synthetic_test_real.csv",
        f"{REALISM}/two_sample_test.csv",
        f"{REALISM}/feature_distances.csv",
        f"{FIGURES}/diffusion_samples.png",
        f"{FIGURES}/diffusion_training_loss.png",
        f"{FIGURES}/synthetic_examples.png",
        *(REPORT_TABLE.replace("{table}", name) for name in REPORT_TABLES),
    ]
    other_model = [
        SURVEY_FEATURES,
        GP_RESAMPLED,
        GP_FEATURES,
        f"{EMBED}/anomaly_scores.parquet",
        f"{TRANSFER}/cross_survey_metrics.json",
        f"{RESULTS}/clean/rejected.csv",
        f"{FIGURES}/survey_lightcurves_raw.png",
        f"{FIGURES}/survey_lightcurves_folded.png",
    ]
    targets = []
    for name in config["datasets"]:
        spec = config["data"][name]
        chosen = other_model if spec.get("model_from") else own_labels
        if spec.get("gaia"):
            chosen = [*chosen, GAIA_LABELS]
            if spec["gaia"]["epoch_photometry"]:
                chosen.append(f"{GAIA}/epoch_photometry.parquet")
        targets += expand(chosen, dataset=name)
    return targets


def get_final_outputs(wildcards):
    primer = expand(
        f"{PRIMER}/figures/{{example}}.png", example=["line_fit", "forecast"]
    )
    provenance = "results/provenance/provenance.html"
    return [*get_dataset_outputs(wildcards), *primer, provenance]
