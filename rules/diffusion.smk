# Diffusion: a class-conditional denoising diffusion model of the folded
# GP-resampled curves; synthetic survey-like light curves drawn from it; and
# the measurements that say how realistic they are.


# Fit the denoiser on the train split's folded curves.
rule train_diffusion:
    input:
        resampled=GP_RESAMPLED,
        labels=LABELS,
    output:
        weights=DIFFUSION_WEIGHTS,
        metadata=DIFFUSION_METADATA,
        loss=DIFFUSION_LOSS,
    log:
        f"{LOGS}/diffusion/train.log",
    benchmark:
        f"{BENCHMARKS}/diffusion/train.tsv"
    conda:
        "../envs/diffusion.yaml"
    # One core: the small 1-D convolutions gain little from a second thread,
    # and lose much when other jobs (GP fits, embedding) share the cores.
    threads: 1
    params:
        settings=diffusion_settings(TRAINING_KEYS),
        seed=config["seed"],
    script:
        "../scripts/diffusion_train.py"


# Draw samples_per_class folded shapes of every class.
rule sample_diffusion:
    input:
        weights=DIFFUSION_WEIGHTS,
        metadata=DIFFUSION_METADATA,
        resampled=GP_RESAMPLED,
    output:
        DIFFUSION_SAMPLES,
    log:
        f"{LOGS}/diffusion/sample.log",
    benchmark:
        f"{BENCHMARKS}/diffusion/sample.tsv"
    conda:
        "../envs/diffusion.yaml"
    # One core, as for training: a denoising step is one small batched call.
    threads: 1
    params:
        settings=diffusion_settings(SAMPLING_KEYS),
        seed=config["seed"],
    script:
        "../scripts/diffusion_sample.py"


# Place the shapes on real cadences, periods, amplitudes and errors.
rule synthesize_lightcurves:
    input:
        samples=DIFFUSION_SAMPLES,
        resampled=GP_RESAMPLED,
        labels=LABELS,
        lightcurves=get_per_shard(CLEAN_SHARD),
    output:
        shards=directory(SYNTHETIC_SHARDS),
        labels=SYNTHETIC_LABELS,
    log:
        f"{LOGS}/diffusion/synthesize.log",
    conda:
        "../envs/diffusion.yaml"
    # A serial loop over the synthetic stars.
    threads: 1
    params:
        shard_size=config["ingest"]["shard_size"],
        seed=config["seed"],
    script:
        "../scripts/diffusion_synthesize.py"


# The features of the synthetic stars, by the features stage's own function.
rule synthetic_features:
    input:
        SYNTHETIC_SHARDS,
    output:
        SYNTHETIC_FEATURES,
    log:
        f"{LOGS}/diffusion/synthetic_features.log",
    benchmark:
        f"{BENCHMARKS}/diffusion/synthetic_features.tsv"
    conda:
        "../envs/features.yaml"
    # A serial loop over shards and stars, as in the features rule.
    threads: 1
    params:
        features=config["features"],
        bands=lambda wildcards: config["data"][wildcards.dataset]["bands"],
    script:
        "../scripts/diffusion_features.py"


# Train on synthetic, test on real, beside train on real, test on real.
rule train_synthetic_test_real:
    input:
        features=FEATURES,
        labels=LABELS,
        synthetic_features=SYNTHETIC_FEATURES,
        synthetic_labels=SYNTHETIC_LABELS,
    output:
        f"{REALISM}/train_synthetic_test_real.csv",
    log:
        f"{LOGS}/diffusion/train_synthetic_test_real.log",
    conda:
        "../envs/diffusion.yaml"
    # XGBoost builds its histograms in parallel; capped at --cores.
    threads: 2
    params:
        xgboost=config["classify"]["xgboost"],
        seed=config["seed"],
    script:
        "../scripts/diffusion_tstr.py"


# Can a classifier tell real folded curves from synthetic ones?
rule two_sample_test:
    input:
        resampled=GP_RESAMPLED,
        labels=LABELS,
        samples=DIFFUSION_SAMPLES,
    output:
        f"{REALISM}/two_sample_test.csv",
    log:
        f"{LOGS}/diffusion/two_sample_test.log",
    conda:
        "../envs/diffusion.yaml"
    # XGBoost builds its histograms in parallel; capped at --cores.
    threads: 2
    params:
        xgboost=config["diffusion"]["two_sample_xgboost"],
        folds=config["diffusion"]["two_sample_folds"],
        seed=config["seed"],
    script:
        "../scripts/diffusion_two_sample_test.py"


# Wasserstein distances between real and synthetic feature distributions.
rule feature_distances:
    input:
        features=FEATURES,
        labels=LABELS,
        synthetic_features=SYNTHETIC_FEATURES,
        synthetic_labels=SYNTHETIC_LABELS,
    output:
        f"{REALISM}/feature_distances.csv",
    log:
        f"{LOGS}/diffusion/feature_distances.log",
    conda:
        "../envs/diffusion.yaml"
    threads: 1
    params:
        columns=get_distance_features,
    script:
        "../scripts/diffusion_feature_distances.py"


# Real and synthetic folded shapes of each class, side by side.
rule plot_diffusion_samples:
    input:
        resampled=GP_RESAMPLED,
        labels=LABELS,
        samples=DIFFUSION_SAMPLES,
    output:
        png=report(
            f"{FIGURES}/diffusion_samples.png",
            caption="../report/diffusion_samples.rst",
            category=CATEGORY["diffusion"],
        ),
        pdf=f"{FIGURES}/diffusion_samples.pdf",
    log:
        f"{LOGS}/figures/diffusion_samples.log",
    conda:
        "../envs/diffusion.yaml"
    threads: 1
    params:
        per_class=config["figures"]["examples_per_class"],
        seed=config["seed"],
        font_size=config["figures"]["font_size"],
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/plot_diffusion_samples.py"


# The noise-prediction loss during training.
rule plot_diffusion_loss:
    input:
        DIFFUSION_LOSS,
    output:
        png=report(
            f"{FIGURES}/diffusion_training_loss.png",
            caption="../report/diffusion_training_loss.rst",
            category=CATEGORY["diffusion"],
        ),
        pdf=f"{FIGURES}/diffusion_training_loss.pdf",
    log:
        f"{LOGS}/figures/diffusion_training_loss.log",
    conda:
        "../envs/figures.yaml"
    threads: 1
    params:
        font_size=config["figures"]["font_size"],
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/plot_diffusion_loss.py"


# Synthetic observed light curves, folded at their period, as survey data.
rule plot_synthetic_examples:
    input:
        shards=SYNTHETIC_SHARDS,
        labels=SYNTHETIC_LABELS,
    output:
        png=report(
            f"{FIGURES}/synthetic_examples.png",
            caption="../report/synthetic_examples.rst",
            category=CATEGORY["diffusion"],
        ),
        pdf=f"{FIGURES}/synthetic_examples.pdf",
    log:
        f"{LOGS}/figures/synthetic_examples.log",
    conda:
        "../envs/figures.yaml"
    threads: 1
    params:
        per_class=config["figures"]["examples_per_class"],
        seed=config["seed"],
        font_size=config["figures"]["font_size"],
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/plot_synthetic_examples.py"
