# Embedding: a contrastive encoder of the GP-resampled folded curves, trained
# without labels, and what its embedding is worth against the hand-made
# features (few labels, a 2-D map, anomalies, hidden classes).


rule embed_train:
    input:
        GP_RESAMPLED,
    output:
        encoder=f"{EMBED}/encoder.pt",
        embedding=f"{EMBED}/embedding.parquet",
        history=f"{EMBED}/training.tsv",
    log:
        f"{LOGS}/embed/train.log",
    benchmark:
        f"{BENCHMARKS}/embed/train.tsv"
    conda:
        "../envs/embed.yaml"
    # One core: small convolutions scale poorly across threads on shared CPUs,
    # and the hidden-class trainings run side by side with this one.
    threads: 1
    params:
        embed=EMBED_TRAINING,
        seed=config["seed"],
    script:
        "../scripts/embed_train.py"


rule embed_few_label:
    input:
        embedding=f"{EMBED}/embedding.parquet",
        features=FEATURES,
        labels=LABELS,
    output:
        f"{EMBED}/few_label.tsv",
    log:
        f"{LOGS}/embed/few_label.log",
    conda:
        "../envs/embed.yaml"
    # Small logistic regressions, one after the other.
    threads: 1
    params:
        few_label=config["embed"]["few_label"],
        seed=config["seed"],
    script:
        "../scripts/embed_few_label.py"


rule embed_map:
    input:
        f"{EMBED}/embedding.parquet",
    output:
        f"{EMBED}/map.parquet",
    log:
        f"{LOGS}/embed/map.log",
    benchmark:
        f"{BENCHMARKS}/embed/map.tsv"
    conda:
        "../envs/embed.yaml"
    # scikit-learn's t-SNE is serial in its gradient steps.
    threads: 1
    params:
        map=config["embed"]["map"],
        seed=config["seed"],
    script:
        "../scripts/embed_map.py"


rule embed_anomaly:
    input:
        f"{EMBED}/embedding.parquet",
    output:
        f"{EMBED}/anomaly_scores.parquet",
    log:
        f"{LOGS}/embed/anomaly.log",
    conda:
        "../envs/embed.yaml"
    # One neighbour search over the embedding.
    threads: 1
    params:
        anomaly=EMBED_ANOMALY,
        seed=config["seed"],
    script:
        "../scripts/embed_anomaly.py"


rule embed_hidden_class:
    input:
        resampled=GP_RESAMPLED,
        embedding=f"{EMBED}/embedding.parquet",
        features=FEATURES,
        labels=LABELS,
    output:
        f"{EMBED}/hidden_class/{{hidden}}.tsv",
    log:
        f"{LOGS}/embed/hidden_class/{{hidden}}.log",
    benchmark:
        f"{BENCHMARKS}/embed/hidden_class/{{hidden}}.tsv"
    conda:
        "../envs/embed.yaml"
    # One core per hidden class: the classes retrain side by side.
    threads: 1
    params:
        embed=EMBED_TRAINING,
        anomaly=EMBED_ANOMALY,
        retrain_encoder=config["embed"]["hidden_class"]["retrain_encoder"],
        seed=config["seed"],
    script:
        "../scripts/embed_hidden_class.py"


rule embed_hidden_class_gather:
    input:
        get_hidden_classes,
    output:
        f"{EMBED}/hidden_class_auc.tsv",
    log:
        f"{LOGS}/embed/hidden_class_gather.log",
    conda:
        "../envs/embed.yaml"
    threads: 1
    script:
        "../scripts/gather_tsv.py"


rule plot_embed_few_label:
    input:
        f"{EMBED}/few_label.tsv",
    output:
        png=report(
            f"{FIGURES}/embed_few_label.png",
            caption="../report/embed_few_label.rst",
            category=CATEGORY["embed"],
        ),
        pdf=f"{FIGURES}/embed_few_label.pdf",
    log:
        f"{LOGS}/figures/embed_few_label.log",
    conda:
        "../envs/embed.yaml"
    threads: 1
    params:
        font_size=config["figures"]["font_size"],
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/plot_embed_few_label.py"


rule plot_embed_map:
    input:
        points=f"{EMBED}/map.parquet",
        labels=LABELS,
        resampled=GP_RESAMPLED,
    output:
        png=report(
            f"{FIGURES}/embed_map_{{colour}}.png",
            caption="../report/embed_map.rst",
            category=CATEGORY["embed"],
            labels={"figure": "embedding map coloured by {colour}"},
        ),
        pdf=f"{FIGURES}/embed_map_{{colour}}.pdf",
    log:
        f"{LOGS}/figures/embed_map_{{colour}}.log",
    wildcard_constraints:
        colour="class|period",
    conda:
        "../envs/embed.yaml"
    threads: 1
    params:
        font_size=config["figures"]["font_size"],
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/plot_embed_map.py"


rule plot_embed_hidden_class_auc:
    input:
        f"{EMBED}/hidden_class_auc.tsv",
    output:
        png=report(
            f"{FIGURES}/embed_hidden_class_auc.png",
            caption="../report/embed_hidden_class_auc.rst",
            category=CATEGORY["embed"],
        ),
        pdf=f"{FIGURES}/embed_hidden_class_auc.pdf",
    log:
        f"{LOGS}/figures/embed_hidden_class_auc.log",
    conda:
        "../envs/embed.yaml"
    threads: 1
    params:
        font_size=config["figures"]["font_size"],
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/plot_embed_hidden_class_auc.py"


rule plot_embed_top_anomalies:
    input:
        scores=f"{EMBED}/anomaly_scores.parquet",
        lightcurves=get_per_shard(CLEAN_SHARD),
        labels=LABELS,
        resampled=GP_RESAMPLED,
    output:
        png=report(
            f"{FIGURES}/embed_top_anomalies.png",
            caption="../report/embed_top_anomalies.rst",
            category=CATEGORY["embed"],
        ),
        pdf=f"{FIGURES}/embed_top_anomalies.pdf",
    log:
        f"{LOGS}/figures/embed_top_anomalies.log",
    conda:
        "../envs/embed.yaml"
    threads: 1
    params:
        top=config["embed"]["anomaly"]["top"],
        font_size=config["figures"]["font_size"],
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/plot_embed_top_anomalies.py"
