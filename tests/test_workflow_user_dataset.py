"""The whole workflow on a user's own files, described only in the config."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import DATA, REPO

CRTS = DATA / "crts"


@pytest.mark.slow
def test_workflow_trains_and_scores_a_user_dataset(tmp_path):
    if not CRTS.is_dir():
        pytest.skip(f"the Catalina sample is not at {CRTS}")

    # The Catalina files rewritten as one long Parquet table and a class table.
    frames, classes = [], []
    for path in sorted(CRTS.glob("*.csv")):
        kind, star = path.stem.rsplit("_", 1)
        frames.append(pd.read_csv(path).assign(star=star))
        classes.append({"star": star, "type": kind})
    pd.concat(frames).to_parquet(tmp_path / "catalina.parquet")
    pd.DataFrame(classes).to_csv(tmp_path / "classes.csv", index=False)

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["datasets"] = ["mine"]
    config["data"] = {
        "mine": {
            "format": "table",
            "path": str(tmp_path / "catalina.parquet"),
            "columns": {"id": "star", "time": "MJD"},
            "bands": ["V"],
            "labels": {"path": str(tmp_path / "classes.csv")},
        }
    }
    config["classify"]["xgboost"]["n_estimators"] = 20
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(config))

    run = subprocess.run(
        [
            *(sys.executable, "-m", "snakemake"),
            *("--snakefile", str(REPO / "Snakefile")),
            *("--directory", str(tmp_path)),
            *("--cores", "2", "--quiet"),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr[-3000:]

    results = Path(tmp_path / "results" / "mine")
    labels = pd.read_parquet(results / "ingest" / "labels.parquet")
    assert len(labels) == 30
    assert labels["class_name"].value_counts().to_dict() == {
        "rr_lyrae": 16,
        "w_uma": 8,
        "delta_scuti": 6,
    }
    assert (labels["split"] == "test").sum() == 6  # holdout_fraction 0.2
    predictions = pd.read_parquet(results / "classification" / "predictions.parquet")
    assert set(predictions["source_id"]) == set(labels["source_id"])
    probabilities = predictions[["p_delta_scuti", "p_rr_lyrae", "p_w_uma"]]
    assert probabilities.sum(axis=1).round(6).eq(1).all()
    periods = pd.read_parquet(results / "features" / "multiband.parquet")
    assert set(periods["chosen_method"]) == {"single_band"}
    assert (results / "figures" / "confusion_matrix.png").stat().st_size > 0
