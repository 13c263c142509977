# Surveys: the multi-band summary of a survey (medians and colours in every
# band, Galactic position), classification by a model trained on another
# survey (model_from), and light curves of unlabelled stars in every band.


rule survey_features:
    input:
        lightcurves=get_per_shard(CLEAN_SHARD),
        features=FEATURES,
        labels=LABELS,
    output:
        SURVEY_FEATURES,
    log:
        f"{LOGS}/survey_features.log",
    conda:
        "../envs/features.yaml"
    # A group-by over the cleaned shards; one thread is enough.
    threads: 1
    params:
        bands=lambda wildcards: dataset_spec(wildcards)["bands"],
    script:
        "../scripts/survey_features.py"


rule classify_transfer:
    input:
        source_features=get_model_source(FEATURES),
        source_labels=get_model_source(LABELS),
        features=SURVEY_FEATURES,
        labels=LABELS,
    output:
        model=f"{TRANSFER}/xgboost.json",
        predictions=f"{TRANSFER}/predictions.parquet",
        metrics=f"{TRANSFER}/cross_survey_metrics.json",
    log:
        f"{LOGS}/classify_transfer.log",
    benchmark:
        f"{BENCHMARKS}/classify_transfer.tsv"
    conda:
        "../envs/classify.yaml"
    # A few thousand training stars: one thread is fast (8 s on EROS-1), and
    # XGBoost's OpenMP threads spin-wait badly on a busy machine (150 s on two).
    threads: 1
    params:
        model_from=lambda wildcards: dataset_spec(wildcards)["model_from"],
        xgboost=config["classify"]["xgboost"],
        exclude=config["classify"]["transfer_exclude"],
        seed=config["seed"],
    script:
        "../scripts/classify_transfer.py"


rule plot_survey_lightcurves:
    input:
        lightcurves=get_per_shard(CLEAN_SHARD),
        features=FEATURES,
    output:
        png=report(
            f"{FIGURES}/survey_lightcurves_{{view}}.png",
            caption="../report/survey_lightcurves.rst",
            category=CATEGORY["data"],
            labels={"figure": "light curves in every band ({view})"},
        ),
        pdf=f"{FIGURES}/survey_lightcurves_{{view}}.pdf",
    log:
        f"{LOGS}/figures/survey_lightcurves_{{view}}.log",
    wildcard_constraints:
        view="raw|folded",
    conda:
        "../envs/figures.yaml"
    threads: 1
    params:
        folded=lambda wildcards: wildcards.view == "folded",
        n_stars=config["figures"]["survey_stars"],
        font_size=config["figures"]["font_size"],
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/plot_survey_lightcurves.py"
