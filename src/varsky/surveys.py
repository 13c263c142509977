"""Readers of survey layouts: VVV/VIRAC2 and the Catalina Sky Survey.

Each reader turns a survey's own files into the tidy light-curve table and the
labels table of :mod:`varsky.io`. The labels table of these surveys carries,
besides :data:`varsky.io.LABEL_COLUMNS`, the position of each star (``ra``,
``dec`` and Galactic ``gal_l``, ``gal_b``, in degrees, NaN when unknown) and
``read_error``: empty, or why the star's file could not be read. A file that
cannot be read fails that star only; the others go on.

VIRAC2 (Smith et al. 2025, MNRAS 536, 3707, doi:10.1093/mnras/stae2653) is the
astrometric and photometric catalogue of the VISTA Variables in the Via Lactea
survey (Minniti et al. 2010, doi:10.1016/j.newast.2009.12.002). Its light
curves come either as one CSV file per source in the ``AAA/BBB/<sourceid>.csv``
tree (the first three and next three digits of the source id) or as one FITS
table with a ``source_id`` column. One row is one epoch in the band named by
``filter``; only that band's ``<band>_mag``/``<band>_err`` hold values, and
``detected = 0`` marks a non-detection.

The per-epoch quality cuts of the literature that need columns the tidy table
does not keep (PSF-fit ``chi`` and astrometric ``ast_res_chisq``) are applied
here by setting bits of the ``flags`` column (:data:`varsky.clean.FLAG_REASONS`);
the clean stage drops flagged epochs and counts them per star and band under
the bit's name, beside its own cuts.

Catalina (Drake et al. 2009, ApJ 696, 870, doi:10.1088/0004-637X/696/1/870)
light curves come as one CSV file per source in the CRTS data-release layout;
the survey is unfiltered, calibrated to V. The class may be given by the file
name prefix (``rr_lyrae_<MasterID>.csv``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from pyarrow import csv as pa_csv

from varsky import io
from varsky.clean import FLAG_BITS

log = logging.getLogger(__name__)

POSITION_COLUMNS = ["ra", "dec", "gal_l", "gal_b"]
SURVEY_LABEL_COLUMNS = [*io.LABEL_COLUMNS, *POSITION_COLUMNS, "read_error"]

#: VIRAC2 band name (``filter``) to the prefix of its magnitude columns.
VIRAC2_BANDS = {"Z": "z", "Y": "y", "J": "j", "H": "h", "Ks": "ks"}
VIRAC2_COLUMNS = [
    "mjd",
    "filter",
    "detected",
    "chi",
    "ast_res_chisq",
    *(f"{p}_{kind}" for p in VIRAC2_BANDS.values() for kind in ("mag", "err")),
]
#: Default thresholds of the read-time cuts (``data.<name>.quality``).
VIRAC2_QUALITY = {"max_chi": 10.0, "max_ast_res_chisq": 20.0}

#: One file per source is small: a single reading thread is faster.
SMALL_CSV = pa_csv.ReadOptions(use_threads=False)

CRTS_COLUMNS = ["MasterID", "Mag", "Magerr", "MJD", "RA", "Dec"]


# --------------------------------------------------------------------------- #
# Shared pieces
# --------------------------------------------------------------------------- #
def galactic(ra: np.ndarray, dec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Galactic longitude and latitude (degrees) of ICRS positions (degrees)."""
    coords = SkyCoord(ra=np.asarray(ra) * u.deg, dec=np.asarray(dec) * u.deg)
    return coords.galactic.l.deg, coords.galactic.b.deg


def survey_labels(
    source_ids: list[str],
    *,
    class_names: list | None = None,
    errors: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Labels of a survey read in place: every star in ``train``, no positions.

    Unlabelled stars (class NaN) get the split ``unlabelled``; the ingest
    stage draws the test split of labelled data.
    """
    classes = class_names if class_names is not None else [np.nan] * len(source_ids)
    labels = pd.DataFrame(
        {
            "source_id": pd.Series(source_ids, dtype=str),
            "class_name": pd.Series(classes, dtype=object),
            "reference_period": np.nan,
        }
    )
    labels["split"] = np.where(labels["class_name"].notna(), "train", "unlabelled")
    for column in POSITION_COLUMNS:
        labels[column] = np.nan
    errors = errors or {}
    labels["read_error"] = [errors.get(s, "") for s in labels["source_id"]]
    return labels[SURVEY_LABEL_COLUMNS]


def _check_columns(frame: pd.DataFrame, required: list[str], where: str) -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise io.InputError(f"{where}: missing columns {missing}")


def _read_csv(path: Path) -> pd.DataFrame:
    """A CSV file as a frame; an empty file or bad CSV raises InputError."""
    if path.stat().st_size == 0:
        raise io.InputError(f"{path}: empty file")
    try:
        return pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as err:
        raise io.InputError(f"{path}: not a readable CSV table ({err})") from None


def _log_failures(errors: dict[str, str], survey: str, n_read: int) -> None:
    for message in errors.values():
        log.warning("%s: source not read: %s", survey, message)
    log.info("%s: read %d sources, %d failed", survey, n_read, len(errors))


# --------------------------------------------------------------------------- #
# VIRAC2
# --------------------------------------------------------------------------- #
def _as_float(columns: Mapping[str, np.ndarray], name: str, where: str) -> np.ndarray:
    """A column as float64 (empty cells NaN); InputError if it is not numeric."""
    try:
        return np.asarray(columns[name], dtype="float64")
    except (TypeError, ValueError):
        raise io.InputError(f"{where}: column {name!r} is not numeric") from None


def _bands(columns: Mapping[str, np.ndarray]) -> np.ndarray:
    return np.char.strip(np.asarray(columns["filter"], dtype=str))


def virac2_epochs(
    columns: Mapping[str, np.ndarray], where: str, quality: dict, first_line: int = 2
) -> dict[str, np.ndarray]:
    """Tidy columns (without ``source_id``) of VIRAC2 epochs.

    ``columns`` maps each VIRAC2 column name to its values. The magnitude and
    error of each row are taken from the columns of the band named in
    ``filter``. ``flags`` gets the bit ``non_detection`` where ``detected`` is
    0, else ``high_psf_chi`` where ``chi >= max_chi`` and
    ``high_astrometric_chisq`` where ``ast_res_chisq >= max_ast_res_chisq``
    (a NaN ``chi`` or ``ast_res_chisq`` of a detection fails its cut too).

    Raises
    ------
    varsky.io.InputError
        Naming ``where`` and the missing or non-numeric column, or the line
        (counting from ``first_line`` for the first row) of a band not in
        VIRAC2.
    """
    missing = [c for c in VIRAC2_COLUMNS if c not in columns]
    if missing:
        raise io.InputError(f"{where}: missing columns {missing}")
    band = _bands(columns)
    unknown = np.flatnonzero(~np.isin(band, list(VIRAC2_BANDS)))
    if unknown.size:
        row = int(unknown[0])
        raise io.InputError(
            f"{where}, line {row + first_line}: filter {str(band[row])!r} is not a "
            f"VIRAC2 band {list(VIRAC2_BANDS)}"
        )

    mag = np.full(band.size, np.nan)
    err = np.full(band.size, np.nan)
    for name, prefix in VIRAC2_BANDS.items():
        rows = band == name
        mag[rows] = _as_float(columns, f"{prefix}_mag", where)[rows]
        err[rows] = _as_float(columns, f"{prefix}_err", where)[rows]

    detected = np.nan_to_num(_as_float(columns, "detected", where), nan=0.0)
    chi = _as_float(columns, "chi", where)
    ast = _as_float(columns, "ast_res_chisq", where)
    flags = np.zeros(band.size, dtype="int32")
    with np.errstate(invalid="ignore"):
        flags[~(chi < quality["max_chi"])] |= FLAG_BITS["high_psf_chi"]
        flags[~(ast < quality["max_ast_res_chisq"])] |= FLAG_BITS[
            "high_astrometric_chisq"
        ]
    # A non-detection has no chi to judge; count it once, as a non-detection.
    flags[detected == 0] = FLAG_BITS["non_detection"]
    return {
        "band": band,
        "time": _as_float(columns, "mjd", where),
        "mag": mag,
        "mag_err": err,
        "flags": flags,
    }


def _csv_columns(path: Path) -> dict[str, np.ndarray]:
    """The columns of a CSV file; an empty file or bad CSV raises InputError."""
    if path.stat().st_size == 0:
        raise io.InputError(f"{path}: empty file")
    try:
        table = pa_csv.read_csv(path, read_options=SMALL_CSV)
    except pa.ArrowInvalid as err:
        raise io.InputError(f"{path}: not a readable CSV table ({err})") from None
    return {name: table.column(name).to_numpy() for name in table.column_names}


def _tidy(source_ids: list[str], parts: list[dict[str, np.ndarray]]) -> pd.DataFrame:
    """One tidy frame from per-source column dicts."""
    if not parts:
        return io.LIGHTCURVE_SCHEMA.empty_table().to_pandas()
    sizes = [part["band"].size for part in parts]
    frame = {"source_id": np.repeat(np.asarray(source_ids, dtype=object), sizes)}
    for column in ("band", "time", "mag", "mag_err", "flags"):
        frame[column] = np.concatenate([part[column] for part in parts])
    return pd.DataFrame(frame)


def read_virac2_csv(path: str | Path, quality: dict) -> pd.DataFrame:
    """Tidy rows of one per-source VIRAC2 CSV file; ``source_id`` from its name."""
    path = Path(path)
    return _tidy([path.stem], [virac2_epochs(_csv_columns(path), str(path), quality)])


def _fits_columns(path: Path) -> dict[str, np.ndarray]:
    """The columns of the first binary or ASCII table of a FITS file."""
    try:
        with fits.open(path, memmap=False) as hdus:
            for hdu in hdus:
                if isinstance(hdu, fits.BinTableHDU | fits.TableHDU):
                    columns = {}
                    for name in hdu.columns.names:
                        values = np.asarray(hdu.data[name])
                        if values.dtype.kind == "S":
                            values = np.char.decode(values, "ascii")
                        elif values.dtype.byteorder not in ("=", "|"):
                            values = values.astype(values.dtype.newbyteorder("="))
                        columns[name] = values
                    return columns
    except OSError as err:
        raise io.InputError(f"{path}: not a readable FITS file ({err})") from None
    raise io.InputError(f"{path}: no table extension (not a FITS table)")


def read_virac2_fits(
    path: str | Path, quality: dict
) -> tuple[pd.DataFrame, dict[str, str], list[str]]:
    """Tidy rows of a single-table VIRAC2 FITS file of many sources.

    Returns the rows, the failed sources (source id to message) and every
    source id in file order. A source with a row in a band outside VIRAC2
    fails alone; a file without a table or without a needed column fails as a
    whole.
    """
    path = Path(path)
    columns = _fits_columns(path)
    if "source_id" not in columns:
        raise io.InputError(f"{path}: missing columns ['source_id']")
    ids = np.asarray(columns["source_id"]).astype(str)
    order = list(pd.unique(ids))

    band = _bands(columns)
    bad_rows = np.flatnonzero(~np.isin(band, list(VIRAC2_BANDS)))
    errors = {}
    for row in bad_rows:
        errors.setdefault(
            ids[row],
            f"{path}, source {ids[row]}, table row {row + 1}: filter "
            f"{str(band[row])!r} is not a VIRAC2 band {list(VIRAC2_BANDS)}",
        )
    keep = ~np.isin(ids, list(errors))
    rows = virac2_epochs(
        {name: values[keep] for name, values in columns.items()}, str(path), quality
    )
    lightcurves = pd.DataFrame({"source_id": ids[keep].astype(object), **rows})
    return lightcurves, errors, order


def read_virac2_positions(path: str | Path) -> pd.DataFrame:
    """Positions of VIRAC2 sources: ``source_id``, ra, dec, gal_l, gal_b (deg).

    Reads a FITS table (or CSV) with ``sourceid``, ``ra`` and ``dec``; Galactic
    coordinates come from its ``l`` and ``b`` columns when present, else are
    computed from ra and dec. A ``gaia_source_id`` column (a Gaia DR3 source
    id per star, for labels by id rather than by cross-match) is kept.
    """
    path = Path(path)
    table = (
        _read_csv(path)
        if path.suffix.lower() == ".csv"
        else pd.DataFrame(_fits_columns(path))
    ).rename(columns={"sourceid": "source_id"})
    _check_columns(table, ["source_id", "ra", "dec"], str(path))
    positions = pd.DataFrame(
        {
            "source_id": table["source_id"].astype(str),
            "ra": table["ra"].astype(float),
            "dec": table["dec"].astype(float),
        }
    )
    if {"l", "b"} <= set(table.columns):
        positions["gal_l"] = table["l"].astype(float).to_numpy()
        positions["gal_b"] = table["b"].astype(float).to_numpy()
    else:
        positions["gal_l"], positions["gal_b"] = galactic(
            positions["ra"], positions["dec"]
        )
    if "gaia_source_id" in table:
        positions["gaia_source_id"] = table["gaia_source_id"].astype("Int64")
    return positions.drop_duplicates("source_id")


def read_virac2(
    source_dir: Path, manifest: dict, spec: dict
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read VIRAC2 light curves (CSV tree or FITS table) and optional positions.

    ``spec["lightcurves"]`` (relative to ``source_dir``) is either a folder,
    searched for ``*.csv`` files at any depth, or a FITS file. ``spec["quality"]``
    holds the read-time thresholds (:data:`VIRAC2_QUALITY`), ``spec["positions"]``
    an optional positions table. ``max_stars`` keeps the first N sources.
    """
    quality = {**VIRAC2_QUALITY, **(spec.get("quality") or {})}
    target = Path(source_dir) / spec.get("lightcurves", "light_curves")
    max_stars = spec.get("max_stars")

    if target.is_dir():
        files = sorted(target.rglob("*.csv"), key=lambda p: p.stem)[:max_stars]
        order = [p.stem for p in files]
        read, parts, errors = [], [], {}
        for path in files:
            try:
                parts.append(virac2_epochs(_csv_columns(path), str(path), quality))
                read.append(path.stem)
            except io.InputError as err:
                errors[path.stem] = str(err)
        lightcurves = _tidy(read, parts)
    elif target.is_file():
        lightcurves, errors, order = read_virac2_fits(target, quality)
        order = order[:max_stars]
        lightcurves = lightcurves[lightcurves["source_id"].isin(order)]
    else:
        raise io.InputError(f"{target}: no such folder or FITS file of light curves")

    _log_failures(errors, "VIRAC2", len(order))
    labels = survey_labels(order, errors=errors)
    if spec.get("positions"):
        labels = _attach_positions(
            labels, read_virac2_positions(Path(source_dir) / spec["positions"])
        )
    return lightcurves, labels


def _attach_positions(labels: pd.DataFrame, positions: pd.DataFrame) -> pd.DataFrame:
    located = labels.drop(columns=POSITION_COLUMNS).merge(
        positions, on="source_id", how="left"
    )
    missing = int(located["ra"].isna().sum())
    if missing:
        log.warning("%d sources have no row in the positions table", missing)
    extra = [c for c in located if c not in SURVEY_LABEL_COLUMNS]
    return located[[*SURVEY_LABEL_COLUMNS, *extra]]


# --------------------------------------------------------------------------- #
# Catalina
# --------------------------------------------------------------------------- #
CRTS_NAME = re.compile(r"^(?P<prefix>.*?)_?(?P<master_id>\d+)$")


def crts_class(path: Path, class_names: dict[str, str]) -> str:
    """The varsky class of a Catalina file from its name prefix.

    ``w_uma_1001005029084.csv`` has prefix ``w_uma``, mapped by ``class_names``.
    """
    match = CRTS_NAME.match(path.stem)
    prefix = match["prefix"] if match else ""
    if prefix not in class_names:
        raise io.InputError(
            f"{path}: file name prefix {prefix!r} is not in the dataset's "
            f"class_names {sorted(class_names)}"
        )
    return class_names[prefix]


def crts_epochs(
    path: str | Path, band: str
) -> tuple[str, dict[str, np.ndarray], tuple[float, float]]:
    """One Catalina light curve: its MasterID, tidy columns and median (ra, dec).

    The survey's ``Flags`` (SExtractor flags, mostly 2 for a neighbour nearby)
    are not quality cuts and are not kept: ``flags`` is 0.
    """
    path = Path(path)
    columns = _csv_columns(path)
    missing = [c for c in CRTS_COLUMNS if c not in columns]
    if missing:
        raise io.InputError(f"{path}: missing columns {missing}")
    ids = np.unique(np.asarray(columns["MasterID"]).astype(str))
    if len(ids) != 1:
        raise io.InputError(
            f"{path}: column 'MasterID' holds {len(ids)} sources, expected one"
        )
    where = str(path)
    time = _as_float(columns, "MJD", where)
    rows = {
        "band": np.full(time.size, band, dtype=object),
        "time": time,
        "mag": _as_float(columns, "Mag", where),
        "mag_err": _as_float(columns, "Magerr", where),
        "flags": np.zeros(time.size, dtype="int32"),
    }
    position = (
        float(np.nanmedian(_as_float(columns, "RA", where))),
        float(np.nanmedian(_as_float(columns, "Dec", where))),
    )
    return str(ids[0]), rows, position


def read_crts(
    source_dir: Path, manifest: dict, spec: dict
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a folder of Catalina CSV files (one per source).

    With ``spec["class_from_filename"]`` the class is the file-name prefix
    mapped through ``spec["class_names"]``; otherwise the stars are unlabelled.
    The band is the first of ``spec["bands"]``. The source id is the MasterID,
    or the file name for a file that cannot be read.
    """
    band = spec["bands"][0]
    labelled = bool(spec.get("class_from_filename"))
    class_names = spec.get("class_names") or {}
    files = sorted(Path(source_dir).glob("*.csv"))[: spec.get("max_stars")]

    ids, classes, positions, read, parts, errors = [], [], [], [], [], {}
    for path in files:
        try:
            name = crts_class(path, class_names) if labelled else np.nan
            source_id, rows, position = crts_epochs(path, band)
        except io.InputError as err:
            errors[path.stem] = str(err)
            ids.append(path.stem)
            classes.append(np.nan)
            positions.append((np.nan, np.nan))
            continue
        ids.append(source_id)
        classes.append(name)
        positions.append(position)
        read.append(source_id)
        parts.append(rows)

    _log_failures(errors, "Catalina", len(files))
    labels = survey_labels(ids, class_names=classes, errors=errors)
    ra, dec = np.array(positions, dtype=float).reshape(-1, 2).T
    labels["ra"], labels["dec"] = ra, dec
    labels["gal_l"], labels["gal_b"] = galactic(ra, dec)
    if labelled:
        # A star that could not be read has no class; it stays listed, unused.
        labels.loc[labels["read_error"] != "", "split"] = "unlabelled"
    return _tidy(read, parts), labels


# --------------------------------------------------------------------------- #
# Multi-band summary
# --------------------------------------------------------------------------- #
def multiband_summary(
    lightcurves: pd.DataFrame, bands: list[str], labels: pd.DataFrame
) -> pd.DataFrame:
    """Per-star epochs and median magnitude of every band, colours, position.

    Columns: ``source_id``; ``n_epochs_<band>`` (kept epochs, 0 when none) and
    ``median_<band>`` (median magnitude, NaN when no epoch) for each band;
    ``color_<b1>_<b2> = median_<b1> − median_<b2>`` for bands adjacent in
    wavelength; ``gal_l`` and ``gal_b`` (degrees, NaN when unknown). Every
    kept epoch counts, however few: a band too sparse for variability features
    (VVV observes Z, Y, J and H a handful of times) still gives its median.
    """
    good = lightcurves[lightcurves["flags"] == 0]
    grouped = good.groupby(["source_id", "band"], sort=False)["mag"]
    counts = grouped.size().unstack("band")
    medians = grouped.median().unstack("band")

    stars = pd.Index(pd.unique(lightcurves["source_id"].astype(str)), name="source_id")
    summary = pd.DataFrame(index=stars)
    for band in bands:
        n = counts[band] if band in counts else pd.Series(dtype=float)
        summary[f"n_epochs_{band}"] = n.reindex(stars).fillna(0).astype("int64")
        m = medians[band] if band in medians else pd.Series(dtype=float)
        summary[f"median_{band}"] = m.reindex(stars).astype("float64")
    for blue, red in pairwise(bands):
        summary[f"color_{blue}_{red}"] = (
            summary[f"median_{blue}"] - summary[f"median_{red}"]
        )

    located = labels.set_index("source_id").reindex(stars)
    for column in ("gal_l", "gal_b"):
        values = located.get(column, np.nan)
        summary[column] = np.asarray(values, dtype="float64")
    return summary.reset_index()


def survey_feature_table(features: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    """The feature table with the multi-band summary's columns joined on.

    A summary column of the same name as a feature column (the median and
    colour of the variability bands) replaces it where the feature is NaN:
    the summary keeps bands too sparse for the variability features.
    """
    table = features.merge(summary, on="source_id", how="outer", suffixes=("", "__s"))
    for column in [c for c in table if c.endswith("__s")]:
        name = column[: -len("__s")]
        table[name] = table[name].fillna(table[column])
        table = table.drop(columns=column)
    if "reason" in table:
        table["reason"] = table["reason"].fillna("no variability features")
    return table
