# Primer: the paper's first learning machines, a straight line fitted by
# gradient descent and a recurrent network forecasting a periodic series.


rule primer:
    output:
        line=f"{PRIMER}/line_fit.json",
        forecast=f"{PRIMER}/forecast.json",
    log:
        "logs/primer/primer.log",
    conda:
        "../envs/classify.yaml"
    # A few hundred tiny windows: one thread is enough.
    threads: 1
    params:
        options=config["primer"],
        seed=config["seed"],
    script:
        "../scripts/primer.py"


rule plot_primer:
    input:
        f"{PRIMER}/{{example}}.json",
    output:
        png=report(
            f"{PRIMER}/figures/{{example}}.png",
            caption="../report/primer.rst",
            category=CATEGORY["primer"],
        ),
        pdf=f"{PRIMER}/figures/{{example}}.pdf",
    log:
        "logs/primer/plot_{example}.log",
    wildcard_constraints:
        example="line_fit|forecast",
    conda:
        "../envs/figures.yaml"
    threads: 1
    params:
        font_size=config["figures"]["font_size"],
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/plot_primer.py"
