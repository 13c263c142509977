# Figures: each rule draws one figure and registers it in the report with a
# caption saying what the reader should see.


rule plot_examples:
    input:
        lightcurves=get_per_shard(CLEAN_SHARD),
        features=FEATURES,
        labels=get_training_labels,
    output:
        png=report(
            f"{FIGURES}/examples_{{view}}.png",
            caption="../report/examples.rst",
            category=CATEGORY["data"],
            labels={"figure": "example light curves ({view})"},
        ),
        pdf=f"{FIGURES}/examples_{{view}}.pdf",
    log:
        f"{LOGS}/figures/examples_{{view}}.log",
    wildcard_constraints:
        view="raw|folded",
    conda:
        "../envs/figures.yaml"
    # Drawing one figure is serial.
    threads: 1
    # Scaled with the size of the tables it reads.
    resources:
        mem_mb=get_whole_dataset_mem_mb,
        runtime=get_whole_dataset_runtime,
    params:
        folded=lambda wildcards: wildcards.view == "folded",
        per_class=config["figures"]["examples_per_class"],
        seed=config["seed"],
        font_size=config["figures"]["font_size"],
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/plot_examples.py"


rule plot_feature_distributions:
    input:
        features=FEATURES,
        labels=get_training_labels,
    output:
        png=report(
            f"{FIGURES}/feature_distributions.png",
            caption="../report/feature_distributions.rst",
            category=CATEGORY["features"],
        ),
        pdf=f"{FIGURES}/feature_distributions.pdf",
    log:
        f"{LOGS}/figures/feature_distributions.log",
    conda:
        "../envs/figures.yaml"
    # Drawing one figure is serial.
    threads: 1
    # Scaled with the size of the tables it reads.
    resources:
        mem_mb=get_whole_dataset_mem_mb,
        runtime=get_whole_dataset_runtime,
    params:
        columns=get_distribution_features,
        font_size=config["figures"]["font_size"],
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/plot_feature_distributions.py"


rule plot_period_recovery:
    input:
        features=FEATURES,
        labels=LABELS,
    output:
        png=report(
            f"{FIGURES}/period_recovery.png",
            caption="../report/period_recovery.rst",
            category=CATEGORY["features"],
        ),
        pdf=f"{FIGURES}/period_recovery.pdf",
    log:
        f"{LOGS}/figures/period_recovery.log",
    conda:
        "../envs/figures.yaml"
    # Drawing one figure is serial.
    threads: 1
    # Scaled with the size of the tables it reads.
    resources:
        mem_mb=get_whole_dataset_mem_mb,
        runtime=get_whole_dataset_runtime,
    params:
        alias_frequency=config["features"]["period"]["alias_frequency"],
        alias_orders=config["features"]["period"]["alias_orders"],
        font_size=config["figures"]["font_size"],
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/plot_period_recovery.py"


rule plot_confusion_matrix:
    input:
        f"{CLASSIFICATION}/metrics.json",
    output:
        png=report(
            f"{FIGURES}/confusion_matrix.png",
            caption="../report/confusion_matrix.rst",
            category=CATEGORY["classify"],
        ),
        pdf=f"{FIGURES}/confusion_matrix.pdf",
    log:
        f"{LOGS}/figures/confusion_matrix.log",
    conda:
        "../envs/figures.yaml"
    # Drawing one figure is serial.
    threads: 1
    # Scaled with the size of the tables it reads.
    resources:
        mem_mb=get_whole_dataset_mem_mb,
        runtime=get_whole_dataset_runtime,
    params:
        font_size=config["figures"]["font_size"],
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/plot_confusion_matrix.py"
