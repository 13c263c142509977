"""Obtain a dataset's files into results/<dataset>/download/, point at a local
directory in the survey's own layout, or record the seed of a simulated dataset;
writes the manifest ingest reads."""

import json
from pathlib import Path

from varsky.download import RemoteFile, fetch_dataset
from varsky.io import write_atomic
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
spec = snakemake.params.spec
manifest_path = Path(snakemake.output.manifest)

if spec["format"] == "simulated":
    # Generated at ingest from the seed recorded here; nothing is fetched.
    manifest = {"source": "simulated", "local_dir": "", "files": {}}
    manifest["seed"] = snakemake.params.seed
elif spec.get("path"):
    manifest = {"source": spec["path"], "local_dir": spec["path"], "files": {}}
else:
    files = [
        RemoteFile(name, sha256, optional=name in spec["optional_files"])
        for name, sha256 in spec["files"].items()
    ]
    # The mirror is read from the config rather than params on purpose: the
    # checksums are pinned, so where the bytes come from does not change them
    # and switching mirrors must not rerun the workflow.
    manifest = fetch_dataset(
        files,
        spec["base_url"],
        manifest_path.parent,
        mirror=snakemake.config["download_mirror"],
        timeout_s=snakemake.params.download["timeout_s"],
        retries=snakemake.params.download["retries"],
    )
    manifest["local_dir"] = str(manifest_path.parent)

text = json.dumps(manifest, indent=2)
write_atomic(manifest_path, lambda tmp: Path(tmp).write_text(text))
