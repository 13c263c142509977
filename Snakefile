# varsky: from raw survey light curves to a classified catalogue of variable stars.
# This file only wires the stages together; each stage lives in rules/<stage>.smk.

from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/download.smk"
include: "rules/ingest.smk"
include: "rules/clean.smk"
include: "rules/features.smk"
include: "rules/multiband.smk"
include: "rules/gp.smk"
include: "rules/classify.smk"
include: "rules/primer.smk"
include: "rules/diffusion.smk"
include: "rules/figures.smk"
include: "rules/report.smk"
include: "rules/surveys.smk"
include: "rules/gaia.smk"
include: "rules/embed.smk"


rule all:
    default_target: True
    input:
        get_final_outputs,
