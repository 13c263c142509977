# Report: the metrics tables as sortable pages, and the provenance page, so that
# every figure of the report can be traced to its configuration, code,
# packages, data and seeds.


rule report_table:
    input:
        get_report_table_source,
    output:
        report(
            REPORT_TABLE,
            caption="../report/tables.rst",
            category=get_report_table_category,
        ),
    log:
        f"{LOGS}/report/{{table}}.log",
    wildcard_constraints:
        table="|".join(REPORT_TABLES),
    conda:
        "../envs/report.yaml"
    # Formatting one small table: one thread.
    threads: 1
    params:
        title=lambda wildcards: REPORT_TABLES[wildcards.table][2],
    script:
        "../scripts/report_table.py"


rule provenance:
    input:
        outputs=get_dataset_outputs,
        manifests=expand(DOWNLOAD_MANIFEST, dataset=config["datasets"]),
    output:
        record="results/provenance/provenance.json",
        page=report(
            "results/provenance/provenance.html",
            caption="../report/provenance.rst",
            category=CATEGORY["provenance"],
        ),
        runtimes="results/provenance/runtimes.csv",
        runtimes_page=report(
            "results/provenance/runtimes.html",
            caption="../report/runtimes.rst",
            category=CATEGORY["provenance"],
        ),
    log:
        "logs/provenance.log",
    conda:
        "../envs/report.yaml"
    threads: 1
    params:
        config=config,
        datasets=config["datasets"],
        repo=workflow.basedir,
    script:
        "../scripts/provenance.py"
