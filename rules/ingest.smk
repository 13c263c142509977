# Ingest: survey files -> tidy light-curve shards + labels table. A checkpoint,
# because the number of shards is known only once the stars are counted.


checkpoint ingest:
    input:
        manifest=DOWNLOAD_MANIFEST,
    output:
        shards=directory(INGEST_SHARDS),
        labels=LABELS,
    log:
        f"{LOGS}/ingest.log",
    benchmark:
        f"{BENCHMARKS}/ingest.tsv"
    conda:
        "../envs/ingest.yaml"
    # Reading and sharding is one sequential pass over the files.
    threads: 1
    # Scaled with the stars it holds at once (see JOB_COST in common.smk).
    resources:
        mem_mb=get_mem_mb("ingest"),
        runtime=get_runtime("ingest"),
    params:
        spec=get_ingest_spec,
        ingest=config["ingest"],
        seed=config["seed"],
    script:
        "../scripts/ingest.py"
