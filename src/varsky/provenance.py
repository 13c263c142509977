"""What a run was made from: config, code version, packages, data, seeds, timings.

The provenance page answers the questions a referee asks of a figure: which
configuration, which commit of varsky, which versions of the key packages,
which input files (with their checksums), which seeds, and how long each step
took.
"""

from __future__ import annotations

import html
import json
import subprocess
from importlib import metadata
from pathlib import Path

import pandas as pd
import yaml

import varsky

KEY_PACKAGES = [
    "snakemake",
    "numpy",
    "pandas",
    "pyarrow",
    "scipy",
    "astropy",
    "nifty-ls",
    "george",
    "xgboost",
    "scikit-learn",
    "torch",
    "matplotlib",
]


def git_commit(repo: str | Path) -> str:
    """The checked-out commit of ``repo``, with ``+dirty`` for local changes."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return commit + ("+dirty" if dirty else "")


def package_versions(names: list[str] = KEY_PACKAGES) -> dict[str, str]:
    """Installed versions of ``names``; 'not installed' where absent."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def data_files(manifests: dict[str, str | Path]) -> list[dict]:
    """One row per input file of each dataset, from the download manifests."""
    rows = []
    for dataset, path in manifests.items():
        manifest = json.loads(Path(path).read_text())
        for name, entry in manifest.get("files", {}).items():
            rows.append(
                {
                    "dataset": dataset,
                    "file": name,
                    "status": entry["status"],
                    "sha256": entry.get("sha256") or "",
                    "bytes": entry.get("bytes", 0),
                    "source": entry.get("url", manifest.get("source", "")),
                }
            )
        if not manifest.get("files"):
            rows.append(
                {
                    "dataset": dataset,
                    "file": "(read in place)",
                    "status": "local",
                    "sha256": "",
                    "bytes": 0,
                    "source": manifest.get("source", ""),
                }
            )
    return rows


def rule_runtimes(benchmark_files: list[str | Path], root: str | Path) -> pd.DataFrame:
    """Wall time and peak memory of each benchmarked job, from Snakemake's files."""
    rows = []
    for path in benchmark_files:
        table = pd.read_csv(path, sep="\t")
        rows.append(
            {
                "job": str(Path(path).relative_to(root))
                .removesuffix(".tsv")
                .replace("/benchmarks/", " "),
                "seconds": float(table["s"].mean()),
                "max_rss_mb": float(table["max_rss"].mean())
                if "max_rss" in table
                else float("nan"),
            }
        )
    return pd.DataFrame(rows, columns=["job", "seconds", "max_rss_mb"])


def collect(config: dict, repo: str | Path, manifests: dict) -> dict:
    """Everything but the runtimes, as one JSON-serialisable record."""
    return {
        "varsky_version": varsky.__version__,
        "git_commit": git_commit(repo),
        "seed": config.get("seed"),
        "packages": package_versions(),
        "data_files": data_files(manifests),
        "config": config,
    }


def render_html(record: dict, runtimes: pd.DataFrame) -> str:
    """A self-contained page of the provenance record."""
    packages = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
        for k, v in record["packages"].items()
    )
    files = pd.DataFrame(record["data_files"]).to_html(index=False, border=0)
    times = runtimes.to_html(index=False, border=0, float_format="{:.1f}".format)
    config = html.escape(yaml.safe_dump(record["config"], sort_keys=False))
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>varsky provenance</title>
<style>body{{font-family:sans-serif;font-size:14px;margin:1em}}
table{{border-collapse:collapse}}td,th{{padding:2px 8px;text-align:left}}
tr:nth-child(even){{background:#f3f3f3}}pre{{background:#f7f7f7;padding:8px}}</style>
</head><body>
<h1>Provenance</h1>
<p>varsky {html.escape(record["varsky_version"])}, commit
<code>{html.escape(record["git_commit"])}</code>; seed of every random generator:
{record["seed"]}.</p>
<h2>Packages</h2><table>{packages}</table>
<h2>Input files</h2>{files}
<h2>Runtime of each benchmarked job</h2>{times}
<h2>Configuration as run</h2><pre>{config}</pre>
</body></html>
"""
