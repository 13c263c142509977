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
    threads: 1
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
    log:
        f"{LOGS}/clean_summary.log",
    conda:
        "../envs/clean.yaml"
    threads: 1
    script:
        "../scripts/clean_summary.py"
