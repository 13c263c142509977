# Report: the provenance page, so that every figure of the report can be traced
# to its configuration, code, packages, data and seeds.


rule provenance:
    input:
        outputs=get_dataset_outputs,
        manifests=expand(DOWNLOAD_MANIFEST, dataset=config["datasets"]),
    output:
        record="results/provenance/provenance.json",
        page=report(
            "results/provenance/provenance.html",
            caption="../report/provenance.rst",
            category="Provenance",
        ),
        runtimes=report(
            "results/provenance/runtimes.csv",
            caption="../report/runtimes.rst",
            category="Provenance",
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
