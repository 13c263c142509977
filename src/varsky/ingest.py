"""Turn downloaded survey files into tidy light-curve shards and a labels table."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from varsky import io

log = logging.getLogger(__name__)

RAMP_SPLITS = {
    "train": ("train.csv", "train_varlength_features.csv.gz"),
    "test": ("test.csv", "test_varlength_features.csv.gz"),
}


def available_files(manifest: dict) -> set[str]:
    """Names of the files the download stage actually obtained."""
    return {
        name
        for name, entry in manifest["files"].items()
        if entry["status"] in ("downloaded", "cached")
    }


def holdout_split(labels: pd.DataFrame, fraction: float, seed: int) -> pd.DataFrame:
    """Mark a seeded, stratified ``fraction`` of the stars as the ``test`` split."""
    if not 0 < fraction < 1:
        raise ValueError(f"holdout_fraction must lie in (0, 1), got {fraction}")
    _, test_ids = train_test_split(
        labels["source_id"],
        test_size=fraction,
        random_state=seed,
        stratify=labels["class_name"],
    )
    labels = labels.copy()
    labels["split"] = "train"
    labels.loc[labels["source_id"].isin(set(test_ids)), "split"] = "test"
    return labels


def ingest_ramp(
    download_dir: str | Path,
    manifest: dict,
    shards_dir: str | Path,
    labels_path: str | Path,
    *,
    class_names: dict[int, str],
    shard_size: int,
    holdout_fraction: float,
    seed: int,
    max_stars: int | None = None,
) -> pd.DataFrame:
    """Ingest the EROS-1 benchmark in the RAMP challenge layout.

    When the download obtained the test split, the labels keep the published
    train/test split; otherwise a seeded stratified hold-out of the training
    stars becomes the test split. ``max_stars`` keeps only the first stars of
    each split (for quick runs); the hold-out is drawn after that cut.
    """
    started = time.perf_counter()
    download_dir = Path(download_dir)
    have = available_files(manifest)
    splits = [s for s, files in RAMP_SPLITS.items() if set(files) <= have]
    if "train" not in splits:
        raise io.InputError(
            f"{download_dir}: the training files {RAMP_SPLITS['train']} are missing"
        )

    frames, labels = [], []
    for split in splits:
        meta_file, curves_file = (download_dir / f for f in RAMP_SPLITS[split])
        split_labels = io.read_ramp_labels(meta_file, class_names, split)
        stars = list(io.iter_ramp_stars(meta_file, curves_file))
        if max_stars is not None:
            stars, split_labels = stars[:max_stars], split_labels.iloc[:max_stars]
        frames.extend(rows for _, rows in stars)
        labels.append(split_labels)
    labels = pd.concat(labels, ignore_index=True)
    if "test" not in splits:
        labels = holdout_split(labels, holdout_fraction, seed)

    lightcurves = io.to_tidy(pd.concat(frames, ignore_index=True))
    shards = io.assign_shards(labels["source_id"].tolist(), shard_size)
    written = io.write_shards(lightcurves, shards, shards_dir)
    labels["shard"] = labels["source_id"].map(shards)
    io.write_parquet(labels, labels_path)

    log.info(
        "ingested %d stars (%s), %d observations into %d shards in %.1f s",
        len(labels),
        ", ".join(f"{k}: {v}" for k, v in labels["split"].value_counts().items()),
        len(lightcurves),
        len(written),
        time.perf_counter() - started,
    )
    return labels
