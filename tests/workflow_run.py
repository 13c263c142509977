"""Run the workflow of this checkout in a scratch folder, as a user would.

A scratch folder gets ``config/config.yaml``: the repository's config with the
test's overrides merged in. The Snakefile's ``configfile:`` is relative to the
working directory (``--directory``), so this is the file Snakemake reads; it is
passed again with ``--configfile`` so that nothing depends on that rule.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
EROS1 = REPO.parent / "shared" / "data" / "eros1"


def merged(base: dict, overrides: dict) -> dict:
    """``base`` with ``overrides`` merged in, key by key, nested dicts too."""
    result = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


# Sizes that make every stage run in seconds: the tests check that the stages
# chain and what reruns, not how well the models learn.
FAST = {
    "classify": {
        "n_folds": 2,
        "xgboost": {"n_estimators": 20, "early_stopping_rounds": 5},
        "mlp": {"max_epochs": 3, "patience": 1},
        "rnn": {"max_epochs": 1, "patience": 1, "max_length": 40},
    },
    "embed": {
        "epochs": 1,
        "few_label": {"labels_per_class": [2, None], "repeats": 1},
        "map": {"perplexity": 5},
        "hidden_class": {"retrain_encoder": False},
    },
    "gp": {"n_phase": 32, "figures": {"examples_per_class": 1, "prior_draws": 1}},
    "diffusion": {
        "n_steps": 50,
        "training_steps": 5,
        "sampling_steps": 5,
        "samples_per_class": 8,
        "two_sample_folds": 2,
        "two_sample_xgboost": {"n_estimators": 10},
    },
    "primer": {"line": {"steps": 50}, "forecast": {"epochs": 2, "n_points": 120}},
    "figures": {"examples_per_class": 1},
}


def small_eros1_config(max_stars: int = 100, shard_size: int = 50) -> dict:
    """Overrides for a quick EROS-1 run read from the local copy of the data."""
    return merged(
        FAST,
        {
            "datasets": ["eros1"],
            "download_mirror": str(EROS1),
            "data": {"eros1": {"max_stars": max_stars}},
            "ingest": {"shard_size": shard_size},
        },
    )


def write_config(workdir: Path, overrides: dict) -> Path:
    """Write the repository config with ``overrides`` into ``workdir``."""
    base = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    path = workdir / "config" / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(merged(base, overrides), sort_keys=False))
    return path


WORKFLOW_PARTS = ("Snakefile", "rules", "scripts", "envs", "report", "config", "src")


def copy_workflow(dest: Path) -> Path:
    """Copy this checkout's workflow (and its library) to ``dest``; return it.

    A test that edits a script works on such a copy, never on the checkout.
    """
    for part in WORKFLOW_PARTS:
        source = REPO / part
        if source.is_dir():
            shutil.copytree(
                source, dest / part, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / part)
    return dest


def snakemake(
    workdir: Path,
    *args: str,
    env: dict | None = None,
    check: bool = True,
    workflow: Path = REPO,
) -> subprocess.CompletedProcess:
    """Run Snakemake on the Snakefile in ``workflow`` inside ``workdir``."""
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(workflow / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(workdir / "config" / "config.yaml"),
        *args,
    ]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({result.returncode}):\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
        )
    return result


def jobs_to_run(workdir: Path, *args: str, workflow: Path = REPO) -> dict[str, int]:
    """Rule name to number of jobs a dry run says would run (empty: nothing).

    Parsed from the "Job stats" table Snakemake prints on a dry run.
    """
    result = snakemake(workdir, "-n", *args, workflow=workflow)
    text = result.stdout + result.stderr
    if re.search(r"^Nothing to be done", text, re.MULTILINE):
        return {}
    table = text.split("Job stats:", 1)
    if len(table) < 2:
        raise AssertionError(f"no job table in the dry run:\n{text[-3000:]}")
    counts = {}
    for line in table[1].splitlines()[3:]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        counts[parts[0]] = int(parts[1])
    counts.pop("total", None)
    return counts
