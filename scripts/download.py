"""Download a dataset's files, checksummed, into results/<dataset>/download/."""

import json
from pathlib import Path

from varsky.download import RemoteFile, fetch_dataset
from varsky.io import write_atomic
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
spec = snakemake.params.spec
files = [
    RemoteFile(name, sha256, optional=name in spec["optional_files"])
    for name, sha256 in spec["files"].items()
]
manifest_path = Path(snakemake.output.manifest)

# The mirror is read from the config rather than params on purpose: where the
# bytes come from does not change them (the checksums are pinned), so switching
# mirrors must not rerun the workflow.
manifest = fetch_dataset(
    files,
    spec["base_url"],
    manifest_path.parent,
    mirror=snakemake.config["download_mirror"],
    timeout_s=snakemake.params.download["timeout_s"],
    retries=snakemake.params.download["retries"],
)
write_atomic(
    manifest_path, lambda tmp: Path(tmp).write_text(json.dumps(manifest, indent=2))
)
