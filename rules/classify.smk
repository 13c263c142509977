# Classification: every model is scored by the same protocol, stratified
# K-fold cross-validation on the train split (folds written once) plus the
# held-out test split; then a comparison of the models and their figures.


rule classify_folds:
    input:
        labels=LABELS,
    output:
        FOLDS,
    log:
        f"{LOGS}/classify/folds.log",
    conda:
        "../envs/classify.yaml"
    threads: 1
    params:
        n_folds=config["classify"]["n_folds"],
        known_classes=get_known_classes,
        seed=config["seed"],
    script:
        "../scripts/make_folds.py"


rule classify:
    input:
        features=FEATURES,
        labels=get_training_labels,
        folds=FOLDS,
    output:
        model=f"{CLASSIFICATION}/xgboost.json",
        metrics=f"{CLASSIFICATION}/metrics.json",
        predictions=f"{CLASSIFICATION}/predictions.parquet",
        importance=f"{CLASSIFICATION}/feature_importance.csv",
    log:
        f"{LOGS}/classify/xgboost.log",
    benchmark:
        f"{BENCHMARKS}/classify/xgboost.tsv"
    conda:
        "../envs/classify.yaml"
    # XGBoost builds its histograms in parallel; Snakemake caps this at --cores.
    threads: 2
    # Scaled with the size of the feature table it reads.
    resources:
        mem_mb=get_whole_dataset_mem_mb,
        runtime=get_whole_dataset_runtime,
    params:
        options=classify_options("xgboost"),
        known_classes=get_known_classes,
        seed=config["seed"],
    script:
        "../scripts/classify.py"


rule classify_mlp:
    input:
        features=FEATURES,
        labels=LABELS,
        folds=FOLDS,
    output:
        model=f"{CLASSIFICATION}/mlp/model.pt",
        metrics=f"{CLASSIFICATION}/mlp/metrics.json",
        predictions=f"{CLASSIFICATION}/mlp/predictions.parquet",
    log:
        f"{LOGS}/classify/mlp.log",
    benchmark:
        f"{BENCHMARKS}/classify/mlp.tsv"
    conda:
        "../envs/classify.yaml"
    # Small dense layers: PyTorch gains little beyond one thread per core.
    threads: 1
    params:
        options=classify_options("mlp"),
        known_classes=get_known_classes,
        seed=config["seed"],
    script:
        "../scripts/classify_mlp.py"


rule classify_rnn:
    input:
        lightcurves=get_per_shard(CLEAN_SHARD),
        labels=LABELS,
        folds=FOLDS,
    output:
        model=f"{CLASSIFICATION}/rnn/model.pt",
        metrics=f"{CLASSIFICATION}/rnn/metrics.json",
        predictions=f"{CLASSIFICATION}/rnn/predictions.parquet",
    log:
        f"{LOGS}/classify/rnn.log",
    benchmark:
        f"{BENCHMARKS}/classify/rnn.tsv"
    conda:
        "../envs/classify.yaml"
    # The recurrence is sequential and its matrices small: extra intra-op
    # threads only wait on each other.
    threads: 1
    params:
        bands=lambda wildcards: config["data"][wildcards.dataset]["bands"],
        options=classify_options("rnn"),
        known_classes=get_known_classes,
        seed=config["seed"],
    script:
        "../scripts/classify_rnn.py"


rule soft_vote:
    input:
        metrics=f"{CLASSIFICATION}/metrics.json",
        predictions=get_model_predictions,
    output:
        metrics=f"{CLASSIFICATION}/soft_vote/metrics.json",
        predictions=f"{CLASSIFICATION}/soft_vote/predictions.parquet",
    log:
        f"{LOGS}/classify/soft_vote.log",
    conda:
        "../envs/classify.yaml"
    threads: 1
    params:
        models=MODELS,
        calibration_bins=config["classify"]["calibration_bins"],
        calibration=config["classify"]["calibration"],
    script:
        "../scripts/soft_vote.py"


rule compare_models:
    input:
        get_model_metrics,
    output:
        COMPARISON,
    log:
        f"{LOGS}/classify/compare_models.log",
    conda:
        "../envs/classify.yaml"
    threads: 1
    script:
        "../scripts/compare_models.py"


rule calibration_table:
    input:
        get_model_metrics,
    output:
        CALIBRATION,
    log:
        f"{LOGS}/classify/calibration_table.log",
    conda:
        "../envs/classify.yaml"
    threads: 1
    script:
        "../scripts/calibration_table.py"


rule holdout_metrics:
    input:
        get_model_metrics,
    output:
        f"{CLASSIFICATION}/holdout_metrics.csv",
    log:
        f"{LOGS}/classify/holdout_metrics.log",
    conda:
        "../envs/classify.yaml"
    threads: 1
    script:
        "../scripts/holdout_metrics.py"


rule plot_model_comparison:
    input:
        COMPARISON,
    output:
        png=report(
            f"{FIGURES}/model_comparison.png",
            caption="../report/model_comparison.rst",
            category=CATEGORY["classify"],
        ),
        pdf=f"{FIGURES}/model_comparison.pdf",
    log:
        f"{LOGS}/figures/model_comparison.log",
    conda:
        "../envs/figures.yaml"
    threads: 1
    params:
        n_folds=config["classify"]["n_folds"],
        font_size=config["figures"]["font_size"],
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/plot_model_comparison.py"


rule plot_feature_importance:
    input:
        f"{CLASSIFICATION}/feature_importance.csv",
    output:
        png=report(
            f"{FIGURES}/feature_importance.png",
            caption="../report/feature_importance.rst",
            category=CATEGORY["classify"],
        ),
        pdf=f"{FIGURES}/feature_importance.pdf",
    log:
        f"{LOGS}/figures/feature_importance.log",
    conda:
        "../envs/figures.yaml"
    threads: 1
    params:
        top=config["classify"]["importance_top"],
        font_size=config["figures"]["font_size"],
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/plot_feature_importance.py"


rule plot_reliability:
    input:
        get_model_metrics,
    output:
        png=report(
            f"{FIGURES}/reliability.png",
            caption="../report/reliability.rst",
            category=CATEGORY["classify"],
        ),
        pdf=f"{FIGURES}/reliability.pdf",
    log:
        f"{LOGS}/figures/reliability.log",
    conda:
        "../envs/figures.yaml"
    threads: 1
    params:
        font_size=config["figures"]["font_size"],
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/plot_reliability.py"
