"""Turn downloaded survey files into tidy light-curve shards and a labels table."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from varsky import io, simulate
from varsky.surveys import read_crts, read_virac2
from varsky.tables import read_table_dataset

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
    """Mark a seeded, stratified ``fraction`` of the stars as the ``test`` split.

    Only labelled stars take part; unlabelled ones keep their split.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"holdout_fraction must lie in (0, 1), got {fraction}")
    labelled = labels[labels["class_name"].notna()]
    try:
        _, test_ids = train_test_split(
            labelled["source_id"],
            test_size=fraction,
            random_state=seed,
            stratify=labelled["class_name"],
        )
    except ValueError as error:
        counts = labelled["class_name"].value_counts().to_dict()
        raise io.InputError(
            f"cannot hold out a stratified {fraction:g} of {len(labelled)} "
            f"labelled stars (per class: {counts}): {error}. Give more stars of "
            "each class, a test split, or another config key "
            "'ingest.holdout_fraction'"
        ) from None
    labels = labels.copy()
    labels.loc[labels["class_name"].notna(), "split"] = "train"
    labels.loc[labels["source_id"].isin(set(test_ids)), "split"] = "test"
    return labels


def read_ramp(
    source_dir: Path, manifest: dict, spec: dict
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read EROS-1 in the RAMP challenge layout: tidy light curves and labels.

    The labels keep the published train/test split when the test files were
    obtained; otherwise every star is in ``train`` (see :func:`ingest`).
    """
    have = available_files(manifest)
    splits = [s for s, files in RAMP_SPLITS.items() if set(files) <= have]
    if "train" not in splits:
        raise io.InputError(
            f"{source_dir}: the training files {RAMP_SPLITS['train']} are missing"
        )
    class_names = {int(k): v for k, v in spec["class_names"].items()}
    max_stars = spec.get("max_stars")

    frames, labels = [], []
    for split in splits:
        meta_file, curves_file = (source_dir / f for f in RAMP_SPLITS[split])
        split_labels = io.read_ramp_labels(meta_file, class_names, split)
        stars = list(io.iter_ramp_stars(meta_file, curves_file))
        if max_stars is not None:
            stars, split_labels = stars[:max_stars], split_labels.iloc[:max_stars]
        frames.extend(rows for _, rows in stars)
        labels.append(split_labels)
    return pd.concat(frames, ignore_index=True), pd.concat(labels, ignore_index=True)


def read_user_tables(
    source_dir: Path, manifest: dict, spec: dict
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a user's own files (the ``table`` format, see :mod:`varsky.tables`).

    ``source_dir`` is the dataset's ``path``: a directory of per-star files or
    one long table. The time system and the files skipped are kept in
    ``lightcurves.attrs["metadata"]`` and stored with the shards.
    """
    lightcurves, labels, metadata = read_table_dataset(
        spec.get("name", "dataset"), spec, source_dir
    )
    lightcurves.attrs["metadata"] = metadata
    return lightcurves, labels


# A reader takes (source folder, download manifest, dataset spec) and returns
# the tidy light curves and the labels table (LABEL_COLUMNS; class_name may be
# missing for unlabelled stars). Register new survey layouts here.
READERS = {
    "ramp": read_ramp,
    "virac2": read_virac2,
    "crts": read_crts,
    "table": read_user_tables,
    "simulated": simulate.read_simulated,
}

# Sources that can produce their shards one at a time, so that ingest holds
# one shard in memory whatever the size of the dataset. Each takes (dataset
# spec, shard_size, seed) and yields (shard name, tidy light curves, labels).
SHARD_SOURCES = {"simulated": simulate.iter_simulated_shards}


def ingest(
    source_dir: str | Path,
    manifest: dict,
    spec: dict,
    shards_dir: str | Path,
    labels_path: str | Path,
    *,
    shard_size: int,
    holdout_fraction: float,
    seed: int,
) -> pd.DataFrame:
    """Read a dataset with its format's reader and write shards and labels.

    A format in :data:`SHARD_SOURCES` (the simulated one) is produced and
    written one shard at a time, so memory does not grow with its size; the
    others are read whole by their reader in :data:`READERS`.

    Labelled data without a test split gets a seeded, stratified hold-out of
    ``holdout_fraction`` of its stars as the test split. Returns the labels
    table, with the shard of each star.
    """
    started = time.perf_counter()
    if spec["format"] in SHARD_SOURCES:
        labels, n_observations, n_shards = _ingest_by_shard(
            spec, shards_dir, shard_size=shard_size, seed=seed
        )
        metadata = {}
    else:
        lightcurves, labels = READERS[spec["format"]](Path(source_dir), manifest, spec)
        metadata = lightcurves.attrs.get("metadata", {})
        lightcurves = io.to_tidy(lightcurves)
        shards = io.assign_shards(labels["source_id"].tolist(), shard_size)
        written = io.write_shards(lightcurves, shards, shards_dir, metadata)
        n_shards = len(written)
        labels["shard"] = labels["source_id"].map(shards)
        n_observations = len(lightcurves)

    labelled = labels["class_name"].notna().any() if "class_name" in labels else False
    if labelled and not (labels["split"] == "test").any():
        labels = holdout_split(labels, holdout_fraction, seed)
    io.write_parquet(labels, labels_path, metadata=metadata)

    log.info(
        "ingested %d stars (%s), %d observations into %d shards in %.1f s",
        len(labels),
        ", ".join(f"{k}: {v}" for k, v in labels["split"].value_counts().items()),
        n_observations,
        n_shards,
        time.perf_counter() - started,
    )
    return labels


def _ingest_by_shard(
    spec: dict, shards_dir: str | Path, *, shard_size: int, seed: int
) -> tuple[pd.DataFrame, int, int]:
    """Write the shards of a shard-wise source; return labels and counts."""
    shards_dir = Path(shards_dir)
    shards_dir.mkdir(parents=True, exist_ok=True)
    labels, n_observations = [], 0
    for name, lightcurves, shard_labels in SHARD_SOURCES[spec["format"]](
        spec, shard_size=shard_size, seed=seed
    ):
        io.write_parquet(
            lightcurves, shards_dir / f"{name}.parquet", schema=io.LIGHTCURVE_SCHEMA
        )
        labels.append(shard_labels.assign(shard=name))
        n_observations += len(lightcurves)
    return pd.concat(labels, ignore_index=True), n_observations, len(labels)
