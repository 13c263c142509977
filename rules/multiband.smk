# Multi-band period search: all bands of a star searched jointly and each band
# alone, the lower false-alarm probability chosen; then the recovery of the
# reference periods by each.


rule multiband_period:
    input:
        CLEAN_SHARD,
    output:
        MULTIBAND_SHARD,
    log:
        f"{LOGS}/multiband/{{shard}}.log",
    benchmark:
        f"{BENCHMARKS}/multiband/{{shard}}.tsv"
    conda:
        "../envs/multiband.yaml"
    # Shards run in parallel; one job is a serial loop over its stars.
    threads: 1
    params:
        multiband=config["multiband"],
    script:
        "../scripts/multiband.py"


rule gather_multiband:
    input:
        get_per_shard(MULTIBAND_SHARD),
    output:
        MULTIBAND,
    log:
        f"{LOGS}/gather_multiband.log",
    conda:
        "../envs/multiband.yaml"
    threads: 1
    script:
        "../scripts/gather.py"


rule multiband_recovery:
    input:
        periods=MULTIBAND,
        labels=LABELS,
    output:
        MULTIBAND_RECOVERY,
    log:
        f"{LOGS}/multiband_recovery.log",
    conda:
        "../envs/multiband.yaml"
    threads: 1
    params:
        multiband=config["multiband"],
    script:
        "../scripts/multiband_recovery.py"
