# Clean: survey-appropriate quality cuts, shard by shard, with counts of what
# each cut removed; then the list of bands and stars lost and why.


rule clean:
    input:
        f"{RESULTS}/ingest/shards/{{shard}}.parquet",
    output:
        lightcurves=CLEAN_SHARD,
        report=CLEAN_REPORT,
    log:
        f"{LOGS}/clean/{{shard}}.log",
    conda:
        "../envs/clean.yaml"
    # Shards run in parallel; one job is a vectorised pass over its table.
    threads: 1
    # Scaled with the shard size, so independent of the size of the survey.
    resources:
        mem_mb=get_mem_mb("clean"),
        runtime=get_runtime("clean"),
    params:
        clean=get_clean_params,
    script:
        "../scripts/clean.py"


rule clean_summary:
    input:
        reports=get_per_shard(CLEAN_REPORT),
        labels=LABELS,
    output:
        rejected=f"{RESULTS}/clean/rejected.csv",
        summary=f"{RESULTS}/clean/summary.json",
        counts=f"{RESULTS}/clean/summary.csv",
    log:
        f"{LOGS}/clean_summary.log",
    conda:
        "../envs/clean.yaml"
    # Concatenating small per-shard tables: one thread.
    threads: 1
    # Scaled with the size of the per-shard reports it reads.
    resources:
        mem_mb=get_whole_dataset_mem_mb,
        runtime=get_whole_dataset_runtime,
    script:
        "../scripts/clean_summary.py"
