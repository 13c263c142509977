# Download: a dataset's public files, checksummed and cached, into
# results/<dataset>/download/ (or copied from `download_mirror`).


# On a cluster the download runs where Snakemake itself runs: compute nodes
# often have no route to the internet, and fetching takes no computing power.
localrules:
    download,


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
        # Recorded in the manifest of a simulated dataset, which it generates.
        seed=config["seed"],
    script:
        "../scripts/download.py"
