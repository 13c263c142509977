# Classification: XGBoost on the feature table, trained on the train split and
# scored on the test split.


rule classify:
    input:
        features=FEATURES,
        labels=get_training_labels,
    output:
        model=f"{CLASSIFICATION}/xgboost.json",
        metrics=f"{CLASSIFICATION}/metrics.json",
        predictions=f"{CLASSIFICATION}/predictions.parquet",
    log:
        f"{LOGS}/classify.log",
    benchmark:
        f"{BENCHMARKS}/classify.tsv"
    conda:
        "../envs/classify.yaml"
    # XGBoost builds its histograms in parallel; Snakemake caps this at --cores.
    threads: 4
    # Scaled with the size of the feature table it reads.
    resources:
        mem_mb=get_whole_dataset_mem_mb,
        runtime=get_whole_dataset_runtime,
    params:
        xgboost=config["classify"]["xgboost"],
        seed=config["seed"],
    script:
        "../scripts/classify.py"
