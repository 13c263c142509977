"""Reading survey files and writing the tidy light-curve table.

Every reader turns a survey's own layout into one *tidy* table, one row per
observation:

==========  =========  ==========================================
column      dtype      meaning
==========  =========  ==========================================
source_id   string     the survey's identifier of the star
band        string     photometric band (e.g. ``B``, ``R``, ``Ks``)
time        float64    epoch in days, in the dataset's time system
mag         float64    magnitude
mag_err     float64    1-sigma magnitude uncertainty
flags       int32      survey quality flags, 0 when the survey has none
==========  =========  ==========================================

and one *labels* table, one row per star (``source_id``, ``class_name``,
``split``, ``reference_period``; ``ra`` and ``dec`` in degrees when the
dataset gives positions). The reference period is an annotation for
measuring period recovery, never a feature. Readers may attach metadata (the
time system, unit and offset of a user's files) that is stored in the
Parquet key-value metadata of every shard and of the labels table, under
``varsky`` (see :func:`read_metadata`).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

log = logging.getLogger(__name__)

LIGHTCURVE_SCHEMA = pa.schema(
    [
        ("source_id", pa.string()),
        ("band", pa.string()),
        ("time", pa.float64()),
        ("mag", pa.float64()),
        ("mag_err", pa.float64()),
        ("flags", pa.int32()),
    ]
)
LABEL_COLUMNS = ["source_id", "class_name", "split", "reference_period"]


class InputError(ValueError):
    """A survey file that cannot be read as documented; the message names it."""


# --------------------------------------------------------------------------- #
# Atomic writing
# --------------------------------------------------------------------------- #
def write_atomic(path: str | os.PathLike, write) -> None:
    """Call ``write(tmp_path)``, then move the result onto ``path`` in one step.

    A failure leaves neither a partial file nor a changed old one behind. A
    process killed outright (SIGKILL, a node lost) leaves at most a hidden
    temporary file, which the next write of the same output removes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.stem}.*.tmp{path.suffix}"):
        stale.unlink(missing_ok=True)
    # The temporary name keeps the final suffix: some writers choose the format
    # from it (XGBoost writes JSON only to a ``.json`` name).
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent
    )
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_parquet(
    table: pd.DataFrame,
    path: str | os.PathLike,
    schema=None,
    metadata: dict | None = None,
) -> None:
    """Write a data frame to Parquet atomically (see :func:`write_atomic`).

    ``metadata`` (JSON-serialisable) is stored in the file's key-value
    metadata under ``varsky``; :func:`read_metadata` reads it back.
    """
    arrow = pa.Table.from_pandas(table, schema=schema, preserve_index=False)
    if metadata:
        extra = {b"varsky": json.dumps(metadata, sort_keys=True).encode()}
        stored = arrow.schema.metadata or {}
        arrow = arrow.replace_schema_metadata({**stored, **extra})
    write_atomic(path, lambda tmp: pq.write_table(arrow, tmp))


def read_metadata(path: str | os.PathLike) -> dict:
    """The ``varsky`` metadata of a Parquet file written by :func:`write_parquet`."""
    stored = pq.read_schema(path).metadata or {}
    return json.loads(stored[b"varsky"]) if b"varsky" in stored else {}


def to_tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """Cast a frame to the tidy light-curve columns and dtypes, sorted."""
    tidy = pd.DataFrame(
        {
            "source_id": frame["source_id"].astype(str),
            "band": frame["band"].astype(str),
            "time": frame["time"].astype("float64"),
            "mag": frame["mag"].astype("float64"),
            "mag_err": frame["mag_err"].astype("float64"),
            "flags": frame["flags"].astype("int32") if "flags" in frame else 0,
        }
    )
    tidy["flags"] = tidy["flags"].astype("int32")
    return tidy.sort_values(["source_id", "band", "time"], kind="stable").reset_index(
        drop=True
    )


def read_lightcurves(paths: str | os.PathLike | Sequence) -> pd.DataFrame:
    """Read one or several tidy light-curve shards into one frame."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    frames = [pq.read_table(p).to_pandas() for p in paths]
    return pd.concat(frames, ignore_index=True) if frames else _empty_tidy()


def _empty_tidy() -> pd.DataFrame:
    return LIGHTCURVE_SCHEMA.empty_table().to_pandas()


# --------------------------------------------------------------------------- #
# Sharding
# --------------------------------------------------------------------------- #
def shard_name(index: int) -> str:
    """Name of shard number ``index`` (``shard-0003``)."""
    return f"shard-{index:04d}"


def assign_shards(source_ids: Sequence[str], shard_size: int) -> dict[str, str]:
    """Map each star to a shard, keeping the given order of stars.

    Consecutive blocks of ``shard_size`` stars form one shard, so all bands of
    a star always fall into the same shard.
    """
    if shard_size < 1:
        raise ValueError(f"shard_size must be at least 1, got {shard_size}")
    return {sid: shard_name(i // shard_size) for i, sid in enumerate(source_ids)}


def write_shards(
    lightcurves: pd.DataFrame,
    shards: dict[str, str],
    out_dir: str | os.PathLike,
    metadata: dict | None = None,
) -> list[Path]:
    """Write the tidy table as one Parquet file per shard into ``out_dir``.

    ``metadata`` (the time system, say) is stored in every shard.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    shard_of_row = lightcurves["source_id"].map(shards)
    written = []
    for name, part in lightcurves.groupby(shard_of_row, sort=True):
        path = out_dir / f"{name}.parquet"
        write_parquet(part, path, schema=LIGHTCURVE_SCHEMA, metadata=metadata)
        written.append(path)
    return written


# --------------------------------------------------------------------------- #
# EROS-1 in the RAMP challenge layout
# --------------------------------------------------------------------------- #
RAMP_BANDS = {"b": "B", "r": "R"}


def parse_list_cell(cell: str, *, where: str) -> np.ndarray:
    """Parse a RAMP cell such as ``"[290.3, 291.35]"`` into a float array."""
    text = str(cell).strip()
    if not (text.startswith("[") and text.endswith("]")):
        raise InputError(
            f"{where}: expected a list like '[1.0, 2.0]', got {text[:40]!r}"
        )
    body = text[1:-1].strip()
    if not body:
        return np.empty(0)
    try:
        return np.array(body.split(","), dtype="float64")
    except ValueError as err:
        raise InputError(f"{where}: {err}") from None


def iter_ramp_stars(
    meta_path: str | os.PathLike, curves_path: str | os.PathLike
) -> Iterator[tuple[str, pd.DataFrame]]:
    """Yield ``(source_id, tidy rows)`` for every star of one RAMP split.

    ``meta_path`` is the per-star table (``train.csv``), ``curves_path`` the
    list-in-a-cell light curves in the same row order.
    """
    meta = pd.read_csv(meta_path, index_col=0)
    curves = pd.read_csv(curves_path, index_col=0)
    if len(meta) != len(curves) or not meta.index.equals(curves.index):
        raise InputError(
            f"{curves_path}: its stars do not match {meta_path} row for row "
            f"({len(curves)} rows against {len(meta)})"
        )
    for source_id, row in curves.iterrows():
        parts = []
        for suffix, band in RAMP_BANDS.items():
            where = f"{curves_path}, star {source_id}, band {band}"
            cols = [f"{kind}_points_{suffix}" for kind in ("time", "light", "error")]
            missing = [c for c in cols if c not in row.index]
            if missing:
                raise InputError(f"{curves_path}: missing columns {missing}")
            time, mag, err = (
                parse_list_cell(row[c], where=f"{where}, {c}") for c in cols
            )
            if not len(time) == len(mag) == len(err):
                raise InputError(
                    f"{where}: time, magnitude and error lists differ in length "
                    f"({len(time)}, {len(mag)}, {len(err)})"
                )
            parts.append(
                pd.DataFrame(
                    {"band": band, "time": time, "mag": mag, "mag_err": err, "flags": 0}
                )
            )
        rows = pd.concat(parts, ignore_index=True)
        rows.insert(0, "source_id", str(source_id))
        yield str(source_id), rows


def read_ramp_labels(
    meta_path: str | os.PathLike, class_names: dict[int, str], split: str
) -> pd.DataFrame:
    """Labels of one RAMP split: class name, split and reference period.

    The reference period in days is ``period / div_period`` (the kit stores a
    multiple of the period in ``period``).
    """
    meta = pd.read_csv(meta_path, index_col=0)
    for column in ("type", "period", "div_period"):
        if column not in meta:
            raise InputError(f"{meta_path}: missing column {column!r}")
    codes = meta["type"].astype(int)
    unknown = sorted(set(codes) - set(class_names))
    if unknown:
        raise InputError(
            f"{meta_path}: class codes {unknown} are not in the dataset's "
            f"class_names {sorted(class_names)}"
        )
    return pd.DataFrame(
        {
            "source_id": meta.index.astype(str),
            "class_name": codes.map(class_names).to_numpy(),
            "split": split,
            "reference_period": (meta["period"] / meta["div_period"]).to_numpy(),
        }
    )


# --------------------------------------------------------------------------- #
# GP-resampled folded curves (written by the GP stage, read by the neural ones)
# --------------------------------------------------------------------------- #
RESAMPLED_NDIM = {
    "source_id": 1,
    "bands": 1,
    "phase": 1,
    "mean": 3,
    "std": 3,
    "period": 1,
    "offset": 2,
    "scale": 2,
    "ok": 2,
}
"""Arrays of ``gp/resampled.npz`` that readers need, with their dimensions."""


class ResampledLayoutError(InputError):
    """A ``resampled.npz`` with a missing or misshapen array."""


def load_resampled_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read ``results/<dataset>/gp/resampled.npz`` and check its layout.

    The archive is read without pickles. ``mean`` and ``std`` must be
    (stars, bands, phases), ``period`` (stars,), ``offset``, ``scale`` and
    ``ok`` (stars, bands), sized by ``source_id``, ``bands`` and ``phase``.

    Raises
    ------
    ResampledLayoutError
        Naming the file and the missing or misshapen array.
    """
    with np.load(path, allow_pickle=False) as data:
        missing = sorted(set(RESAMPLED_NDIM) - set(data.files))
        if missing:
            raise ResampledLayoutError(f"{path}: missing arrays {missing}")
        arrays = {key: data[key] for key in RESAMPLED_NDIM}
    for key, ndim in RESAMPLED_NDIM.items():
        if arrays[key].ndim != ndim:
            raise ResampledLayoutError(
                f"{path}: array {key!r} has {arrays[key].ndim} dimensions, "
                f"expected {ndim}"
            )
    n, n_bands, n_phase = (len(arrays[k]) for k in ("source_id", "bands", "phase"))
    expected = {
        "mean": (n, n_bands, n_phase),
        "std": (n, n_bands, n_phase),
        "period": (n,),
        "offset": (n, n_bands),
        "scale": (n, n_bands),
        "ok": (n, n_bands),
    }
    for key, shape in expected.items():
        if arrays[key].shape != shape:
            raise ResampledLayoutError(
                f"{path}: array {key!r} has shape {arrays[key].shape}, expected "
                f"{shape} (stars, bands, phases)"
            )
    return arrays


@dataclass
class ResampledCurves:
    """The GP-resampled folded curves of ``n`` stars in ``B`` bands.

    ``mean`` and ``std`` (n, B, L; float32) are the GP posterior mean and
    standard deviation of the normalised magnitude ``(mag − offset) / scale``
    on the phase grid ``phase`` (L,); ``period`` (n,) is in days, ``offset``
    and ``scale`` (n, B) in magnitudes; ``ok`` (n, B) is False where a band is
    missing, its fit failed or its curve holds a non-finite value.
    """

    source_id: np.ndarray
    bands: list[str]
    phase: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    period: np.ndarray
    offset: np.ndarray
    scale: np.ndarray
    ok: np.ndarray

    def __len__(self) -> int:
        return len(self.source_id)

    def subset(self, rows: np.ndarray) -> ResampledCurves:
        """The stars at ``rows`` (indices or a boolean mask)."""
        per_star = ("source_id", "mean", "std", "period", "offset", "scale", "ok")
        values = {key: getattr(self, key)[rows] for key in per_star}
        return ResampledCurves(bands=self.bands, phase=self.phase, **values)


def load_resampled(path: str | os.PathLike) -> ResampledCurves:
    """:func:`load_resampled_arrays` as :class:`ResampledCurves`.

    Raises
    ------
    ResampledLayoutError
        Naming the file and the missing or misshapen array.
    """
    arrays = load_resampled_arrays(path)
    mean = arrays["mean"].astype(np.float32)
    std = arrays["std"].astype(np.float32)
    finite = np.isfinite(mean).all(axis=2) & np.isfinite(std).all(axis=2)
    return ResampledCurves(
        source_id=arrays["source_id"].astype(str),
        bands=[str(band) for band in arrays["bands"]],
        phase=arrays["phase"].astype(float),
        mean=mean,
        std=std,
        period=arrays["period"].astype(float),
        offset=arrays["offset"].astype(float),
        scale=arrays["scale"].astype(float),
        ok=arrays["ok"].astype(bool) & finite,
    )
