# Download: a dataset's public files, checksummed and cached, into
# results/<dataset>/download/ (or copied from `download_mirror`).


rule download:
    output:
        manifest=DOWNLOAD_MANIFEST,
    log:
        f"{LOGS}/download.log",
    conda:
        "../envs/download.yaml"
    # Network-bound and single-file sequential: one thread is enough.
    threads: 1
    params:
        spec=get_download_spec,
        download=config["download"],
    script:
        "../scripts/download.py"
