# Gaussian processes: per shard, detrend each band with a GP and resample the
# folded curve on a phase grid; then the features of the detrended curves, the
# resampled arrays of the whole dataset and the GP figures.

from varsky.gp import check_params

try:
    check_params(config["gp"])
except ValueError as error:
    raise WorkflowError(f"invalid configuration: {error}") from None


rule gp_fit:
    input:
        lightcurves=CLEAN_SHARD,
        features=FEATURES,
    output:
        fits=GP_FITS,
        detrended=GP_DETRENDED,
        resampled=GP_RESAMPLED_SHARD,
    log:
        f"{LOGS}/gp/fit/{{shard}}.log",
    benchmark:
        f"{BENCHMARKS}/gp/fit/{{shard}}.tsv"
    conda:
        "../envs/gp.yaml"
    # Shards run in parallel; one job is a serial loop over its stars.
    threads: 1
    params:
        gp=config["gp"],
        bands=lambda wildcards: config["data"][wildcards.dataset]["bands"],
        seed=config["seed"],
    script:
        "../scripts/gp_fit.py"


rule gp_gather_resampled:
    input:
        get_per_shard(GP_RESAMPLED_SHARD),
    output:
        GP_RESAMPLED,
    log:
        f"{LOGS}/gp/gather_resampled.log",
    conda:
        "../envs/gp.yaml"
    threads: 1
    script:
        "../scripts/gp_gather_resampled.py"


rule gp_features:
    input:
        GP_DETRENDED,
    output:
        GP_FEATURES_SHARD,
    log:
        f"{LOGS}/gp/features/{{shard}}.log",
    benchmark:
        f"{BENCHMARKS}/gp/features/{{shard}}.tsv"
    conda:
        "../envs/gp.yaml"
    # Shards run in parallel; one job is a serial loop over its stars.
    threads: 1
    params:
        features=config["features"],
        bands=lambda wildcards: config["data"][wildcards.dataset]["bands"],
    script:
        "../scripts/gp_features.py"


rule gp_gather_features:
    input:
        get_per_shard(GP_FEATURES_SHARD),
    output:
        GP_FEATURES,
    log:
        f"{LOGS}/gp/gather_features.log",
    conda:
        "../envs/gp.yaml"
    threads: 1
    script:
        "../scripts/gather.py"


rule plot_gp_kernels:
    output:
        png=report(
            f"{FIGURES}/gp_kernels.png",
            caption="../report/gp_kernels.rst",
            category=CATEGORY["gp"],
        ),
        pdf=f"{FIGURES}/gp_kernels.pdf",
    log:
        f"{LOGS}/figures/gp_kernels.log",
    conda:
        "../envs/gp.yaml"
    threads: 1
    params:
        draws=config["gp"]["figures"]["prior_draws"],
        seed=config["seed"],
        font_size=config["figures"]["font_size"],
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/plot_gp_kernels.py"


rule plot_gp_examples:
    input:
        lightcurves=get_per_shard(CLEAN_SHARD),
        detrended=get_per_shard(GP_DETRENDED),
        fits=get_per_shard(GP_FITS),
        resampled=GP_RESAMPLED,
        labels=LABELS,
    output:
        png=report(
            f"{FIGURES}/gp_examples.png",
            caption="../report/gp_examples.rst",
            category=CATEGORY["gp"],
        ),
        pdf=f"{FIGURES}/gp_examples.pdf",
    log:
        f"{LOGS}/figures/gp_examples.log",
    conda:
        "../envs/gp.yaml"
    threads: 1
    params:
        gp=config["gp"],
        per_class=config["gp"]["figures"]["examples_per_class"],
        seed=config["seed"],
        font_size=config["figures"]["font_size"],
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/plot_gp_examples.py"
