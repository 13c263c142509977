# Features: variability features and periods per star and band, shard by
# shard; then one table for the dataset.


rule features:
    input:
        CLEAN_SHARD,
    output:
        FEATURES_SHARD,
    log:
        f"{LOGS}/features/{{shard}}.log",
    benchmark:
        f"{BENCHMARKS}/features/{{shard}}.tsv"
    conda:
        "../envs/features.yaml"
    # Shards run in parallel; one job is a serial loop over its stars.
    threads: 1
    # Scaled with the shard size, so independent of the size of the survey.
    resources:
        mem_mb=get_mem_mb("features"),
        runtime=get_runtime("features"),
    params:
        features=config["features"],
        bands=get_variability_bands,
        seed=config["seed"],
    script:
        "../scripts/features.py"


rule gather_features:
    input:
        get_per_shard(FEATURES_SHARD),
    output:
        FEATURES,
    log:
        f"{LOGS}/gather_features.log",
    conda:
        "../envs/features.yaml"
    # Concatenating per-shard tables: one thread.
    threads: 1
    # Scaled with the size of the per-shard tables it reads.
    resources:
        mem_mb=get_whole_dataset_mem_mb,
        runtime=get_whole_dataset_runtime,
    script:
        "../scripts/gather.py"


rule period_recovery:
    input:
        features=FEATURES,
        labels=LABELS,
    output:
        PERIOD_RECOVERY,
    log:
        f"{LOGS}/period_recovery.log",
    conda:
        "../envs/features.yaml"
    # One small table: serial.
    threads: 1
    params:
        features=config["features"],
        tolerance=config["features"]["recovery_tolerance"],
    script:
        "../scripts/period_recovery.py"
