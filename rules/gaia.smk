# Gaia: labels from the Gaia DR3 classification of variable sources, by
# cross-match around each star's position or by Gaia source id, and optionally
# the G, BP, RP epoch photometry of the matched sources. Answers are cached and
# checksummed under results/<dataset>/gaia/cache/.


rule gaia_labels:
    input:
        labels=LABELS,
    output:
        crossmatch=f"{GAIA}/crossmatch.parquet",
        labels=GAIA_LABELS,
    log:
        f"{LOGS}/gaia_labels.log",
    conda:
        "../envs/gaia.yaml"
    # Network-bound, one batch after another: one thread is enough.
    threads: 1
    params:
        match=lambda wildcards: dataset_spec(wildcards)["gaia"]["match"],
        gaia=config["gaia"],
        download=config["download"],
        cache=lambda wildcards: f"results/{wildcards.dataset}/gaia/cache",
        holdout_fraction=config["ingest"]["holdout_fraction"],
        seed=config["seed"],
    script:
        "../scripts/gaia_labels.py"


rule gaia_epoch_photometry:
    input:
        crossmatch=f"{GAIA}/crossmatch.parquet",
    output:
        f"{GAIA}/epoch_photometry.parquet",
    log:
        f"{LOGS}/gaia_epoch_photometry.log",
    conda:
        "../envs/gaia.yaml"
    # Network-bound, one batch after another: one thread is enough.
    threads: 1
    params:
        gaia=config["gaia"],
        download=config["download"],
        cache=lambda wildcards: f"results/{wildcards.dataset}/gaia/cache",
    script:
        "../scripts/gaia_epoch_photometry.py"
