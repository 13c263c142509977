"""Light curves from any survey's tables: the ``table`` dataset format.

A user's dataset is either a directory of per-star files or one long table
holding many stars, in CSV (also ``.tsv``), ECSV, FITS or Parquet, optionally
compressed with gzip (``.gz``) or bzip2 (``.bz2``). Each file's columns are
mapped onto the tidy light-curve table of :mod:`varsky.io` by the dataset's
config entry:

``columns``
    ``id``, ``time``, ``mag``, ``mag_err``, ``band``, ``flux``, ``flux_err``
    (column names) and ``flags`` (a list of columns). A role left out is found
    by its common spellings, case-insensitively (:data:`SPELLINGS`); the star
    id of a per-star file comes from its file name unless ``columns.id`` is set.
``id_pattern``
    A regular expression matched against the file name without its suffixes;
    its named groups ``source_id``, ``class_name`` and ``band`` give the star,
    its class and its band (``rr_lyrae_1001004012176`` →
    ``(?P<class_name>[a-z_]+)_(?P<source_id>\\d+)``).
``time``
    ``system`` (``mjd``, ``hjd``, ``bjd``, ...; null takes it from the time
    column's name), ``unit`` (``d``, ``h``, ``min``, ``s``) and ``offset``:
    ``time [d] = value × unit + offset``.
``flux``
    ``convert: true`` reads ``flux`` and ``flux_err`` columns and turns them
    into magnitudes, ``m = zero_point − 2.5 log10 F`` and, to first order,
    ``σ_m = (2.5 / ln 10) σ_F / F`` (e.g. Bevington & Robinson 2003, *Data
    Reduction and Error Analysis*, eq. 3.23).
``labels``, ``positions``
    Optional tables of ``id, class`` (and ``period``, ``split``) and of
    ``id, ra, dec``, read with the same readers.

A file that cannot be read as configured (a mapped column it lacks, columns
that match no known spelling, several time systems, a band without points) is
skipped with a message naming the file, the column and the config key to set;
the other files go on. The run stops only when no file could be read.
"""

from __future__ import annotations

import logging
import re
import time as clock
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from varsky.io import LABEL_COLUMNS, InputError

log = logging.getLogger(__name__)

SPELLINGS = {
    "id": (
        "source_id",
        "sourceid",
        "object_id",
        "objectid",
        "objid",
        "star_id",
        "starid",
        "masterid",
        "oid",
        "name",
        "id",
    ),
    "time": ("time", "mjd", "hjd", "bjd", "jd", "hmjd", "bmjd", "bjd_tdb", "t"),
    "mag": ("mag", "magnitude", "mags"),
    "mag_err": (
        "mag_err",
        "magerr",
        "emag",
        "e_mag",
        "mag_error",
        "magnitude_error",
        "sigma_mag",
        "sigma",
        "err",
        "error",
    ),
    "band": ("band", "filter", "passband", "filter_name", "filtername"),
    "flux": ("flux",),
    "flux_err": ("flux_err", "fluxerr", "eflux", "e_flux", "flux_error", "sigma_flux"),
    "class": ("class_name", "class", "type", "label", "var_type", "vartype"),
    "period": ("reference_period", "period", "p"),
    "split": ("split",),
    "ra": ("ra", "raj2000", "ra_deg", "alpha"),
    "dec": ("dec", "dej2000", "decj2000", "dec_deg", "delta"),
}
"""Common spellings of each column role, most specific first."""

TIME_SYSTEM_OF_COLUMN = {
    "mjd": "mjd",
    "hjd": "hjd",
    "bjd": "bjd",
    "bjd_tdb": "bjd",
    "jd": "jd",
    "hmjd": "hmjd",
    "bmjd": "bmjd",
}
"""Time system implied by a time column's name; ``time`` and ``t`` imply none."""

TIME_UNITS_IN_DAYS = {"d": 1.0, "h": 1.0 / 24, "min": 1.0 / 1440, "s": 1.0 / 86400}
"""Length of each accepted time unit, in days."""

COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2"}
FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".ecsv": "ecsv",
    ".fits": "fits",
    ".fit": "fits",
    ".fts": "fits",
    ".parquet": "parquet",
    ".pq": "parquet",
}
"""File suffix (before any compression suffix) to the reader used."""

TABLE_DEFAULTS = {
    "pattern": None,
    "id_pattern": None,
    "columns": {},
    "band": None,
    "time": {"system": None, "unit": "d", "offset": 0.0},
    "flux": {"convert": False, "zero_point": 0.0},
    "labels": None,
    "positions": None,
    "class_names": None,
    "max_stars": None,
}
"""Defaults of the keys of a ``table`` dataset entry (see the config schema)."""

# Julian dates of the last few centuries exceed this; modified ones stay below.
_JD_THRESHOLD = 1.0e6


class FileProblem(InputError):
    """One file that cannot be read as configured; the message says why."""


@dataclass
class TableSpec:
    """A ``table`` dataset entry of the config, with its defaults filled in."""

    name: str
    path: Path
    bands: list[str]
    pattern: str | None = None
    id_pattern: re.Pattern | None = None
    columns: dict = field(default_factory=dict)
    band: str | None = None
    time_system: str | None = None
    time_unit: str = "d"
    time_offset: float = 0.0
    flux: bool = False
    zero_point: float = 0.0
    labels: dict | None = None
    positions: dict | None = None
    class_names: dict | None = None
    max_stars: int | None = None

    @classmethod
    def from_config(cls, name: str, spec: dict, source: str | Path) -> TableSpec:
        """Build from ``config["data"][name]``; ``source`` is the file or folder."""
        merged = {**TABLE_DEFAULTS, **spec}
        time = {**TABLE_DEFAULTS["time"], **(merged["time"] or {})}
        flux = {**TABLE_DEFAULTS["flux"], **(merged["flux"] or {})}
        if time["unit"] not in TIME_UNITS_IN_DAYS:
            raise InputError(
                f"config key 'data.{name}.time.unit': {time['unit']!r} is not one "
                f"of {sorted(TIME_UNITS_IN_DAYS)}"
            )
        pattern = merged["id_pattern"]
        return cls(
            name=name,
            path=Path(source),
            bands=list(spec.get("bands") or []),
            pattern=merged["pattern"],
            id_pattern=re.compile(pattern) if pattern else None,
            columns={k: v for k, v in (merged["columns"] or {}).items() if v},
            band=merged["band"],
            time_system=time["system"],
            time_unit=time["unit"],
            time_offset=float(time["offset"]),
            flux=bool(flux["convert"]),
            zero_point=float(flux["zero_point"]),
            labels=merged["labels"],
            positions=merged["positions"],
            class_names=merged["class_names"],
            max_stars=merged["max_stars"],
        )

    def key(self, *parts: str) -> str:
        """The dotted config key of a setting of this dataset."""
        return ".".join(["data", self.name, *parts])


# --------------------------------------------------------------------------- #
# Reading one file of any supported shape
# --------------------------------------------------------------------------- #
def split_suffixes(path: Path) -> tuple[str, str, str | None]:
    """``(stem, format, compression)`` of a file name such as ``a.csv.gz``."""
    name = path.name
    compression = None
    lower = name.lower()
    for suffix, kind in COMPRESSIONS.items():
        if lower.endswith(suffix):
            compression, name, lower = kind, name[: -len(suffix)], lower[: -len(suffix)]
    for suffix, kind in FORMATS.items():
        if lower.endswith(suffix):
            return name[: -len(suffix)], kind, compression
    raise FileProblem(
        f"{path}: unknown file type; varsky reads "
        f"{', '.join(sorted(FORMATS))}, optionally compressed "
        f"({', '.join(sorted(COMPRESSIONS))})"
    )


def read_any_table(path: str | Path, text_columns: tuple = ()) -> pd.DataFrame:
    """Read a CSV, TSV, ECSV, FITS or Parquet file (optionally compressed).

    FITS and ECSV go through :mod:`astropy.table`; masked values become NaN,
    byte strings become text, time objects their MJD, and multidimensional
    columns are left out. In
    CSV and TSV files the ``text_columns`` are read as text, so that star ids
    such as ``007`` keep their leading zeros.
    """
    path = Path(path)
    _, kind, compression = split_suffixes(path)
    if path.is_file() and path.stat().st_size == 0:
        raise FileProblem(f"{path}: empty file (0 bytes)")
    if kind in ("csv", "tsv"):
        sep = "\t" if kind == "tsv" else ","
        try:
            return pd.read_csv(
                path,
                sep=sep,
                compression=compression,
                comment="#",
                dtype=dict.fromkeys(text_columns, str),
            )
        except pd.errors.EmptyDataError:
            raise FileProblem(f"{path}: empty file (no header line)") from None
    if kind == "parquet":
        if compression:
            raise FileProblem(f"{path}: compress Parquet internally, not with gzip")
        return pd.read_parquet(path)
    return _astropy_table(path, "ascii.ecsv" if kind == "ecsv" else "fits")


def _astropy_table(path: Path, fmt: str) -> pd.DataFrame:
    from astropy.table import Table
    from astropy.time import Time

    table = Table.read(path, format=fmt)
    columns = {}
    for name in table.colnames:
        column = table[name]
        if isinstance(column, Time):
            # A time object column: its modified Julian date, in its own scale.
            columns[name] = np.asarray(column.mjd, dtype="float64")
            continue
        if column.ndim > 1:
            log.warning("%s: column %r is multidimensional and left out", path, name)
            continue
        values = np.ma.getdata(column)
        mask = np.ma.getmaskarray(column)
        if values.dtype.kind in "iufb":
            # FITS stores big-endian numbers; pandas and Arrow want native ones.
            values = values.astype(values.dtype.newbyteorder("="))
        if values.dtype.kind == "S":
            values = np.char.decode(values, "utf-8")
        if values.dtype.kind in "iufb" and mask.any():
            values = np.where(mask, np.nan, values.astype("float64"))
        elif mask.any():
            values = np.where(mask, None, values.astype(object))
        columns[name] = values
    return pd.DataFrame(columns)


# --------------------------------------------------------------------------- #
# Column mapping
# --------------------------------------------------------------------------- #
def find_column(
    frame: pd.DataFrame,
    role: str,
    where: str,
    key: str,
    explicit: str | None = None,
    required: bool = True,
) -> str | None:
    """The column of ``frame`` that plays ``role``.

    An ``explicit`` name (from config key ``key``) must exist as given or
    differing only in case; otherwise the first of :data:`SPELLINGS` found,
    ignoring case. Raises :class:`FileProblem` naming ``where``, the column
    and ``key`` when a required role has no column.
    """
    lower = {str(c).lower(): c for c in frame.columns}
    if explicit:
        found = explicit if explicit in frame.columns else lower.get(explicit.lower())
        if found is None:
            raise FileProblem(
                f"{where}: column {explicit!r} named by config key {key!r} is not "
                f"in the file (its columns: {_listing(frame.columns)})"
            )
        return found
    for spelling in SPELLINGS[role]:
        if spelling in lower:
            return lower[spelling]
    if required:
        raise FileProblem(
            f"{where}: no column for {role} (looked for "
            f"{', '.join(SPELLINGS[role])}; the file has {_listing(frame.columns)}); "
            f"set config key {key!r} to the column's name"
        )
    return None


def _listing(columns) -> str:
    names = [str(c) for c in columns]
    return ", ".join(names[:25]) + (", ..." if len(names) > 25 else "")


def time_column(frame: pd.DataFrame, spec: TableSpec, where: str) -> tuple[str, str]:
    """The time column and its time system.

    Without ``columns.time`` every column named like a time is a candidate;
    candidates in different systems (``mjd`` and ``hjd``, say) are an error,
    as is a column named for a system other than ``time.system`` unless a
    unit or offset converts it.
    """
    key = spec.key("columns", "time")
    explicit = spec.columns.get("time")
    if explicit:
        column = find_column(frame, "time", where, key, explicit)
        implied = TIME_SYSTEM_OF_COLUMN.get(str(column).lower())
    else:
        lower = {str(c).lower(): c for c in frame.columns}
        candidates = [lower[s] for s in SPELLINGS["time"] if s in lower]
        if not candidates:
            find_column(frame, "time", where, key)  # raises with the full message
        systems = {TIME_SYSTEM_OF_COLUMN.get(str(c).lower()) for c in candidates}
        systems.discard(None)
        if len(systems) > 1:
            raise FileProblem(
                f"{where}: columns {', '.join(map(repr, candidates))} hold times in "
                f"different systems ({', '.join(sorted(systems))}); set config key "
                f"{key!r} to the one to use and {spec.key('time', 'system')!r} to its "
                "system"
            )
        column = candidates[0]
        implied = TIME_SYSTEM_OF_COLUMN.get(str(column).lower())
    converted = spec.time_offset != 0 or spec.time_unit != "d"
    if spec.time_system and implied and implied != spec.time_system and not converted:
        raise FileProblem(
            f"{where}: column {column!r} holds {implied.upper()} times but config key "
            f"{spec.key('time', 'system')!r} says {spec.time_system!r}; convert the "
            f"file or name another column with {key!r}"
        )
    return column, spec.time_system or implied or "unknown"


def _numeric(frame: pd.DataFrame, column: str, where: str, key: str) -> np.ndarray:
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype="float64")
    text = frame[column].notna().to_numpy() & np.isnan(values)
    if text.any():
        example = frame[column][text].iloc[0]
        raise FileProblem(
            f"{where}: column {column!r} (config key {key!r}) holds values that are "
            f"not numbers, e.g. {example!r}"
        )
    return values


def magnitudes(
    frame: pd.DataFrame, spec: TableSpec, where: str, band: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Magnitudes and errors, converted from fluxes when ``flux.convert`` is on.

    A column name holding ``{band}`` (or ``{band_lower}``) is a template: each
    row takes the value of the column named after its band, as in survey
    files with one magnitude column per band (``ks_mag``, ``j_mag``).
    ``m = zero_point − 2.5 log10 F`` and ``σ_m = 2.5 / ln 10 · σ_F / F``;
    non-positive fluxes give NaN (and are dropped as non-finite).
    """
    roles = ("flux", "flux_err") if spec.flux else ("mag", "mag_err")
    value, error = (_band_values(frame, spec, where, role, band) for role in roles)
    if not spec.flux:
        return value, error
    with np.errstate(divide="ignore", invalid="ignore"):
        positive = value > 0
        mag = np.where(positive, spec.zero_point - 2.5 * np.log10(value), np.nan)
        mag_err = np.where(positive, 2.5 / np.log(10) * error / value, np.nan)
    return mag, mag_err


def _band_values(
    frame: pd.DataFrame, spec: TableSpec, where: str, role: str, band: np.ndarray
) -> np.ndarray:
    """Values of one role, from one column or from a per-band column template."""
    key = spec.key("columns", role)
    explicit = spec.columns.get(role)
    if not explicit or "{" not in explicit:
        return _numeric(
            frame, find_column(frame, role, where, key, explicit), where, key
        )
    values = np.full(len(frame), np.nan)
    for name in pd.unique(band):
        column_name = explicit.format(band=name, band_lower=str(name).lower())
        column = find_column(frame, role, where, key, column_name)
        rows = band == name
        values[rows] = _numeric(frame, column, where, key)[rows]
    return values


def quality_flags(frame: pd.DataFrame, spec: TableSpec, where: str) -> np.ndarray:
    """Bitwise OR of the integer flag columns (``columns.flags``); 0 without."""
    names = spec.columns.get("flags") or []
    if isinstance(names, str):
        names = [names]
    flags = np.zeros(len(frame), dtype=np.int64)
    key = spec.key("columns", "flags")
    for name in names:
        column = find_column(frame, "flags", where, key, name)
        values = _numeric(frame, column, where, key)
        flags |= np.nan_to_num(values, nan=0).astype(np.int64)
    return flags.astype(np.int32)


def file_identity(path: Path, spec: TableSpec) -> dict[str, str]:
    """Star id, class and band that a per-star file's name gives.

    Without ``id_pattern`` the star id is the name without its suffixes.
    """
    stem, _, _ = split_suffixes(path)
    if spec.id_pattern is None:
        return {"source_id": stem}
    match = spec.id_pattern.fullmatch(stem)
    if match is None:
        raise FileProblem(
            f"{path}: file name {stem!r} does not match config key "
            f"{spec.key('id_pattern')!r} ({spec.id_pattern.pattern!r})"
        )
    found = {k: v for k, v in match.groupdict().items() if v is not None}
    found.setdefault("source_id", stem)
    return found


# --------------------------------------------------------------------------- #
# One file to tidy rows
# --------------------------------------------------------------------------- #
@dataclass
class FileResult:
    """Tidy rows of one file, its star classes and what was dropped."""

    rows: pd.DataFrame
    time_system: str
    classes: dict[str, str] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)


def tidy_rows(path: Path, spec: TableSpec, per_star: bool) -> FileResult:
    """Read one file and map its columns onto the tidy light-curve table.

    ``per_star`` files may take the star id (and class, band) from their name;
    a long table needs an id column.
    """
    where = str(path)
    frame = read_any_table(path, tuple(filter(None, [spec.columns.get("id")])))
    identity = file_identity(path, spec) if per_star else {}

    id_key = spec.key("columns", "id")
    if per_star and not spec.columns.get("id"):
        source_id = np.full(len(frame), identity["source_id"], dtype=object)
    else:
        column = find_column(frame, "id", where, id_key, spec.columns.get("id"))
        source_id = frame[column].astype(str).str.strip().to_numpy(dtype=object)

    band = _bands_of_rows(frame, spec, where, identity)
    column, system = time_column(frame, spec, where)
    time_key = spec.key("columns", "time")
    time = _numeric(frame, column, where, time_key)
    time = time * TIME_UNITS_IN_DAYS[spec.time_unit] + spec.time_offset
    _check_time_scale(time, system, spec, where, column)

    mag, mag_err = magnitudes(frame, spec, where, band)
    rows = pd.DataFrame(
        {
            "source_id": source_id,
            "band": band,
            "time": time,
            "mag": mag,
            "mag_err": mag_err,
            "flags": quality_flags(frame, spec, where),
        }
    )
    dropped = {}
    if spec.bands:
        other = ~rows["band"].isin(spec.bands)
        if other.any():
            dropped["band not in bands"] = int(other.sum())
            rows = rows[~other]
    _require_points_per_band(rows, spec, where)
    finite = np.isfinite(rows[["time", "mag", "mag_err"]].to_numpy()).all(axis=1)
    if not finite.all():
        dropped["non-finite time, mag or error"] = int((~finite).sum())
        rows = rows[finite]

    classes = {}
    if "class_name" in identity:
        classes = dict.fromkeys(pd.unique(rows["source_id"]), identity["class_name"])
    return FileResult(rows.reset_index(drop=True), system, classes, dropped)


def _bands_of_rows(
    frame: pd.DataFrame, spec: TableSpec, where: str, identity: dict
) -> np.ndarray:
    """Band of every row: the band column, the file name, or ``band``."""
    explicit = spec.columns.get("band")
    column = find_column(
        frame, "band", where, spec.key("columns", "band"), explicit, required=False
    )
    if column is not None:
        return frame[column].astype(str).str.strip().to_numpy(dtype=object)
    constant = identity.get("band") or spec.band
    if constant is None and len(spec.bands) == 1:
        constant = spec.bands[0]
    if constant is None:
        raise FileProblem(
            f"{where}: no band column (looked for {', '.join(SPELLINGS['band'])}) and "
            f"no band for the whole file; set config key "
            f"{spec.key('columns', 'band')!r} or {spec.key('band')!r}"
        )
    return np.full(len(frame), str(constant), dtype=object)


def _check_time_scale(
    time: np.ndarray, system: str, spec: TableSpec, where: str, column: str
) -> None:
    """Refuse Julian dates read as modified ones and the reverse."""
    finite = time[np.isfinite(time)]
    if finite.size == 0 or system == "unknown":
        return
    typical = float(np.median(finite))
    modified = system in ("mjd", "hmjd", "bmjd")
    full = system in ("jd", "hjd", "bjd")
    if (modified and typical > _JD_THRESHOLD) or (full and typical < _JD_THRESHOLD):
        raise FileProblem(
            f"{where}: column {column!r} has times near {typical:.1f} after the "
            f"offset, which is not a {system.upper()}; set config key "
            f"{spec.key('time', 'system')!r} and {spec.key('time', 'offset')!r} "
            "(e.g. offset -2400000.5 turns JD into MJD)"
        )


def _require_points_per_band(rows: pd.DataFrame, spec: TableSpec, where: str) -> None:
    """A band that appears in a file must have at least one magnitude."""
    column = "flux" if spec.flux else "mag"
    finite = rows.groupby("band", sort=True)["mag"].apply(
        lambda m: int(np.isfinite(m).sum())
    )
    empty = finite[finite == 0].index.tolist()
    if empty:
        raise FileProblem(
            f"{where}: band(s) {', '.join(map(repr, empty))} have no points with a "
            f"finite {column} (config key {spec.key('columns', column)!r}); map the "
            f"right column or leave the band out of {spec.key('bands')!r}"
        )


# --------------------------------------------------------------------------- #
# A whole dataset
# --------------------------------------------------------------------------- #
def dataset_files(spec: TableSpec) -> tuple[list[Path], bool]:
    """The files of a dataset and whether each holds one star.

    A file path is one long table; a directory holds per-star files matching
    ``pattern`` (every supported file, recursively, by default).
    """
    if spec.path.is_file():
        return [spec.path], False
    if not spec.path.is_dir():
        raise InputError(
            f"config key {spec.key('path')!r}: {spec.path} is neither a file nor a "
            "directory"
        )
    pattern = spec.pattern or "**/*"
    files = sorted(p for p in spec.path.glob(pattern) if p.is_file())
    # A labels or positions table kept beside the light curves is not one.
    side = {
        Path(entry["path"]).resolve()
        for entry in (spec.labels, spec.positions)
        if entry and entry.get("path")
    }
    files = [p for p in files if _is_table(p) and p.resolve() not in side]
    if not files:
        raise InputError(
            f"{spec.path}: no light-curve files match config key "
            f"{spec.key('pattern')!r} ({pattern!r})"
        )
    return files, True


def _is_table(path: Path) -> bool:
    try:
        split_suffixes(path)
    except FileProblem:
        return False
    return True


def read_table_dataset(
    name: str, spec: dict, source: str | Path
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Tidy light curves, labels and time metadata of a ``table`` dataset.

    Returns
    -------
    lightcurves : pandas.DataFrame
        Tidy rows (see :mod:`varsky.io`), times in days.
    labels : pandas.DataFrame
        :data:`varsky.io.LABEL_COLUMNS` (``class_name`` NaN for unlabelled
        stars, ``split`` ``train``, ``test`` or ``unlabelled``), plus ``ra``
        and ``dec`` in degrees when a positions table is given.
    metadata : dict
        ``time_system``, ``time_unit``, ``time_offset_days`` and the files
        read and skipped, recorded in the ingest outputs.
    """
    started = clock.perf_counter()
    table_spec = TableSpec.from_config(name, spec, source)
    files, per_star = dataset_files(table_spec)

    parts, classes, skipped, dropped = [], {}, {}, {}
    systems: dict[str, Path] = {}
    for path in files:
        try:
            result = tidy_rows(path, table_spec, per_star)
            _check_same_system(result.time_system, path, systems, table_spec)
        except FileProblem as error:
            log.error("skipped %s", error)
            skipped[str(path)] = str(error)
            continue
        except Exception as error:  # a broken file must not stop the others
            log.exception("skipped %s: cannot be read", path)
            skipped[str(path)] = f"{path}: {error}"
            continue
        parts.append(result.rows)
        classes.update(result.classes)
        for reason, count in result.dropped.items():
            dropped[reason] = dropped.get(reason, 0) + count
    if not parts:
        raise InputError(
            f"config key {table_spec.key('path')!r}: none of the {len(files)} files "
            f"could be read; the first problem: {next(iter(skipped.values()))}"
        )

    lightcurves = pd.concat(parts, ignore_index=True)
    _require_configured_bands(lightcurves, table_spec)
    stars = list(pd.unique(lightcurves["source_id"]))
    if table_spec.max_stars is not None:
        stars = stars[: table_spec.max_stars]
        lightcurves = lightcurves[lightcurves["source_id"].isin(set(stars))]
    labels = star_labels(stars, classes, table_spec)

    metadata = {
        "time_system": next(iter(systems), "unknown"),
        "time_unit": table_spec.time_unit,
        "time_offset_days": table_spec.time_offset,
        "flux_converted": table_spec.flux,
        "files_read": len(parts),
        "files_skipped": skipped,
    }
    log.info(
        "%s: %d files read, %d skipped, %d stars, %d observations (dropped: %s), "
        "times in %s days, %.1f s",
        table_spec.name,
        len(parts),
        len(skipped),
        len(stars),
        len(lightcurves),
        ", ".join(f"{k}: {v}" for k, v in dropped.items()) or "none",
        metadata["time_system"],
        clock.perf_counter() - started,
    )
    return lightcurves, labels, metadata


def _check_same_system(
    system: str, path: Path, systems: dict[str, Path], spec: TableSpec
) -> None:
    """All files of a dataset must share one time system."""
    if systems and system not in systems and system != "unknown":
        first, first_path = next(iter(systems.items()))
        raise FileProblem(
            f"{path}: times are {system.upper()} but {first_path} has {first.upper()}; "
            f"one dataset takes one time system: set config key "
            f"{spec.key('time', 'system')!r} and convert the other files"
        )
    if system != "unknown":
        systems.setdefault(system, path)


def _require_configured_bands(lightcurves: pd.DataFrame, spec: TableSpec) -> None:
    present = set(lightcurves["band"])
    missing = [b for b in spec.bands if b not in present]
    if missing:
        raise InputError(
            f"{spec.path}: band(s) {', '.join(map(repr, missing))} listed in config "
            f"key {spec.key('bands')!r} have no points in any file (bands found: "
            f"{', '.join(sorted(present))}); check {spec.key('columns', 'band')!r}"
        )


def star_labels(
    stars: list[str], classes: dict[str, str], spec: TableSpec
) -> pd.DataFrame:
    """Labels table of the stars read: from file names and/or a labels table."""
    labels = pd.DataFrame({"source_id": pd.Series(stars, dtype=str)})
    labels["class_name"] = labels["source_id"].map(classes).astype(object)
    labels["split"] = np.nan
    labels["reference_period"] = np.nan
    if spec.labels:
        labels = _merge_labels_table(labels, spec)
    if spec.class_names:
        mapping = {str(k): v for k, v in spec.class_names.items()}
        labels["class_name"] = labels["class_name"].map(
            lambda c: mapping.get(str(c), c) if pd.notna(c) else c
        )
    labelled = labels["class_name"].notna()
    labels["split"] = labels["split"].where(
        labels["split"].notna(), np.where(labelled, "train", "unlabelled")
    )
    if spec.positions:
        labels = _merge_positions(labels, spec)
    return labels[[*LABEL_COLUMNS, *(c for c in ("ra", "dec") if c in labels)]]


def _side_table(
    entry: dict, roles: dict[str, bool], spec: TableSpec, section: str
) -> pd.DataFrame:
    """Read a labels or positions table and rename its columns to the roles."""
    if not entry.get("path"):
        raise InputError(f"config key {spec.key(section, 'path')!r} is not set")
    path = Path(entry["path"])
    try:
        ids = (entry.get("id"), spec.columns.get("id"))
        frame = read_any_table(path, tuple(filter(None, ids)))
        # The id column defaults to the light curves' own id column name.
        same_id = spec.columns.get("id")
        explicit = {
            "id": same_id if same_id in frame.columns else None,
            **{k: v for k, v in entry.items() if v},
        }
        columns = {
            role: find_column(
                frame,
                role,
                str(path),
                spec.key(section, role),
                explicit.get(role),
                need,
            )
            for role, need in roles.items()
        }
    except (FileProblem, OSError) as error:
        raise InputError(str(error)) from None
    picked = frame[[c for c in columns.values() if c is not None]].copy()
    picked.columns = [r for r, c in columns.items() if c is not None]
    picked["id"] = picked["id"].astype(str).str.strip()
    # A star listed twice with the same values (two catalogue entries of one
    # source, say) is harmless; with different values it is ambiguous.
    picked = picked.drop_duplicates()
    duplicated = picked["id"].duplicated()
    if duplicated.any():
        raise InputError(
            f"{path}: star {picked['id'][duplicated].iloc[0]!r} appears more than once "
            f"in column {columns['id']!r} with different values; keep one row per "
            "star"
        )
    return picked.set_index("id")


def _merge_labels_table(labels: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    roles = {"id": True, "class": True, "period": False, "split": False}
    table = _side_table(spec.labels, roles, spec, "labels")
    ids = labels["source_id"]
    known = ids.isin(table.index)
    if not known.all():
        log.warning(
            "%d stars are not in the labels table and stay unlabelled: %s",
            int((~known).sum()),
            ", ".join(ids[~known].head(10)),
        )
    cls = ids.map(table["class"])
    labels["class_name"] = cls.where(cls.notna(), labels["class_name"]).astype(object)
    if "period" in table:
        labels["reference_period"] = pd.to_numeric(ids.map(table["period"]))
    if "split" in table:
        labels["split"] = ids.map(table["split"])
    return labels


def _merge_positions(labels: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    roles = {"id": True, "ra": True, "dec": True}
    table = _side_table(spec.positions, roles, spec, "positions")
    for axis in ("ra", "dec"):
        labels[axis] = pd.to_numeric(labels["source_id"].map(table[axis]))
    return labels
