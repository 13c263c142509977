"""Two runs of the workflow from one config give the same numbers.

Both runs start from nothing in their own folder, with the same config and the
same copy of the code, on the same machine, and compute every table of every
stage (the figures are left out: they are drawn from these tables, and
``test_report.py`` shows that the same figure gives the same PNG and PDF
bytes). Then every file under ``results/`` is compared by what it holds:
tables (Parquet, CSV, TSV), arrays (``.npz``), JSON records, network weights
(``.pt``) and XGBoost models must be **bit-identical**. Every generator is
seeded from the config's ``seed``, every job runs with the threads its rule
states, and PyTorch runs with its deterministic algorithms. Only what measures
the machine may differ and is left out: wall times (``seconds*`` keys and
columns), the benchmark files and the table pages showing them.

No tolerance is needed on one machine; should floating-point threading ever
make bit-identity impossible, a tolerance belongs in ``TOLERANCE`` by file,
with the reason.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from workflow_run import (
    EROS1,
    copy_workflow,
    small_eros1_config,
    snakemake,
    write_config,
)

pytestmark = pytest.mark.slow

# Machine measurements, not results: left out of the comparison.
TIMING = re.compile(r"seconds")
SKIPPED_PARTS = {"benchmarks", "provenance", "download", "report"}
# Every table the stages compute; what they need comes along.
TABLES = [
    "results/eros1/clean/rejected.csv",
    "results/eros1/features/period_recovery_multiband.csv",
    "results/eros1/gp/features_detrended.parquet",
    "results/eros1/classification/comparison.csv",
    "results/eros1/classification/holdout_metrics.csv",
    "results/eros1/embed/few_label.tsv",
    "results/eros1/embed/map.parquet",
    "results/eros1/embed/anomaly_scores.parquet",
    "results/eros1/embed/hidden_class_auc.tsv",
    "results/eros1/diffusion/realism/train_synthetic_test_real.csv",
    "results/eros1/diffusion/realism/two_sample_test.csv",
    "results/eros1/diffusion/realism/feature_distances.csv",
    "results/primer/line_fit.json",
    "results/primer/forecast.json",
]
# File (relative to results/) -> absolute tolerance, with the reason. Empty:
# everything is compared exactly.
TOLERANCE: dict[str, float] = {}


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    if not (EROS1 / "train.csv").exists():
        pytest.skip(f"the EROS-1 sample is not at {EROS1}")
    root = tmp_path_factory.mktemp("reproducible")
    # One copy of the code for both runs, whatever happens to the checkout.
    workflow = copy_workflow(root / "workflow")
    overrides = small_eros1_config(max_stars=60, shard_size=30)
    config = write_config(root / "first", overrides)
    runs = []
    for name in ("first", "second"):
        workdir = root / name
        (workdir / "config").mkdir(parents=True, exist_ok=True)
        if name != "first":
            shutil.copy(config, workdir / "config" / "config.yaml")
        snakemake(workdir, "--cores", "2", *TABLES, workflow=workflow)
        runs.append(workdir / "results")
    return runs


def compared_files(results: Path) -> list[Path]:
    """Every result file but the machine measurements, relative to ``results``."""
    return sorted(
        path.relative_to(results)
        for path in results.rglob("*")
        if path.is_file()
        and not SKIPPED_PARTS & set(path.relative_to(results).parts)
        and not path.name.startswith(".")
    )


def without_timing(value):
    """A JSON record without its ``seconds*`` entries, at any depth."""
    if isinstance(value, dict):
        return {k: without_timing(v) for k, v in value.items() if not TIMING.search(k)}
    if isinstance(value, list):
        return [without_timing(v) for v in value]
    return value


def read_table(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        table = pd.read_parquet(path)
    else:
        table = pd.read_csv(path, sep="\t" if path.suffix == ".tsv" else ",")
    return table.drop(columns=[c for c in table if TIMING.search(str(c))])


def difference(first: Path, second: Path, tolerance: float) -> str | None:
    """Why the two files differ, or None when they hold the same values."""
    suffix = first.suffix
    if suffix in (".parquet", ".csv", ".tsv"):
        a, b = read_table(first), read_table(second)
        try:
            pd.testing.assert_frame_equal(
                a, b, check_exact=tolerance == 0, atol=tolerance, rtol=0
            )
        except AssertionError as error:
            return str(error)
        return None
    if suffix == ".npz":
        with np.load(first) as a, np.load(second) as b:
            if sorted(a.files) != sorted(b.files):
                return f"arrays {sorted(a.files)} against {sorted(b.files)}"
            for key in a.files:
                x, y = a[key], b[key]
                same = (
                    np.allclose(x, y, atol=tolerance, rtol=0, equal_nan=True)
                    if x.dtype.kind == "f"
                    else np.array_equal(x, y)
                )
                if not same or x.shape != y.shape:
                    return f"array {key} differs"
        return None
    if suffix == ".json":
        a = without_timing(json.loads(first.read_text()))
        b = without_timing(json.loads(second.read_text()))
        return None if a == b else "the JSON records differ"
    if suffix == ".pt":
        import torch

        a = torch.load(first, weights_only=True)
        b = torch.load(second, weights_only=True)
        return None if same_weights(a, b) else "the saved weights differ"
    return None if first.read_bytes() == second.read_bytes() else "bytes differ"


def same_weights(a, b) -> bool:
    """Whether two loaded state dicts (tensors, at any depth) are identical."""
    import torch

    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and a.keys() == b.keys()
            and all(same_weights(a[k], b[k]) for k in a)
        )
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(map(same_weights, a, b))
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    return a == b


def test_two_runs_write_the_same_files(two_runs):
    first, second = two_runs
    assert compared_files(first) == compared_files(second)


def test_two_runs_hold_the_same_values(two_runs):
    first, second = two_runs
    files = compared_files(first)
    # Every stage wrote something compared here.
    for part in ("features", "gp", "classification", "embed", "diffusion"):
        assert any(f.parts[1] == part for f in files if len(f.parts) > 2), part
    assert sum(f.suffix == ".pt" for f in files) >= 4  # MLP, GRU, encoder, DDPM

    differences = {
        str(f): why
        for f in files
        if (why := difference(first / f, second / f, TOLERANCE.get(str(f), 0.0)))
    }
    assert differences == {}


def test_copied_results_compare_equal_and_a_change_is_caught(two_runs, tmp_path):
    """The comparison itself: a copy is the same, a changed value is not."""
    first = two_runs[0]
    table = next(f for f in compared_files(first) if f.name == "features.parquet")
    copy = tmp_path / "features.parquet"
    shutil.copy(first / table, copy)
    assert difference(first / table, copy, 0.0) is None

    changed = pd.read_parquet(copy)
    column = next(c for c in changed if c.startswith("period_R"))
    changed.loc[0, column] = changed.loc[0, column] * (1 + 1e-12)
    changed.to_parquet(copy)
    assert difference(first / table, copy, 0.0) is not None
