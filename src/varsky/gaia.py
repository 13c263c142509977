"""Labels and light curves from Gaia DR3's variability results.

The VVV stars of the paper are labelled by cross-matching them with the Gaia
DR3 classification of variable sources (Rimoldini et al. 2023, A&A 674, A14,
doi:10.1051/0004-6361/202245591): the ``best_class_name`` and
``best_class_score`` of ``gaiadr3.vari_classifier_result``. This module asks
the Gaia archive's TAP service (Table Access Protocol, IVOA 2019,
doi:10.5479/ADS/bib/2019ivoa.spec.0927D) for them with plain ADQL over HTTP,
either by a cone of ``radius_arcsec`` around each star's position or by a list
of Gaia source ids, and optionally fetches the G, BP and RP epoch photometry of
the matched sources from the archive's DataLink service.

Every response is saved under the dataset's ``gaia/responses`` folder, named by
the SHA-256 of its request, and recorded with its own SHA-256 in a manifest; a
response already saved with the recorded sum is not asked for again. A
malformed response fails its batch with a message naming the file and the line
or column; the other batches go on.

Gaia classes are turned into varsky classes by the ``class_map`` table of the
config; a star whose ``best_class_score`` is below ``min_class_score`` keeps its
class in the table but is not used for training (``use_for_training`` false).
"""

from __future__ import annotations

import hashlib
import io as bytes_io
import json
import logging
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import requests
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io.votable import parse as parse_votable

from varsky import io

log = logging.getLogger(__name__)

#: Columns every classification response must have.
CLASSIFICATION_COLUMNS = ["source_id", "best_class_name", "best_class_score"]
#: Columns the epoch photometry must have.
EPOCH_COLUMNS = ["source_id", "band", "time", "mag", "flux_over_error"]
#: Gaia epoch times are BJD(TCB) − 2455197.5 d; this turns them into MJD.
GAIA_TIME_TO_MJD = 2455197.5 - 2400000.5
#: Flags bit of an epoch Gaia rejected in its variability processing.
REJECTED_BY_VARIABILITY = 8


class GaiaError(RuntimeError):
    """The archive could not be reached or answered something unreadable."""


# --------------------------------------------------------------------------- #
# ADQL
# --------------------------------------------------------------------------- #
def cone_query(ra: np.ndarray, dec: np.ndarray, radius_arcsec: float) -> str:
    """ADQL: classified Gaia sources within ``radius_arcsec`` of any position."""
    radius = radius_arcsec / 3600.0
    cones = " OR ".join(
        f"1 = CONTAINS(POINT('ICRS', g.ra, g.dec), "
        f"CIRCLE('ICRS', {r:.9f}, {d:.9f}, {radius:.9g}))"
        for r, d in zip(ra, dec, strict=True)
    )
    return (
        "SELECT v.source_id, v.best_class_name, v.best_class_score, g.ra, g.dec "
        "FROM gaiadr3.vari_classifier_result AS v "
        "JOIN gaiadr3.gaia_source AS g ON g.source_id = v.source_id "
        f"WHERE {cones}"
    )


def id_query(source_ids: list[int]) -> str:
    """ADQL: the classification of the given Gaia DR3 source ids."""
    ids = ", ".join(str(int(s)) for s in source_ids)
    return (
        "SELECT v.source_id, v.best_class_name, v.best_class_score, g.ra, g.dec "
        "FROM gaiadr3.vari_classifier_result AS v "
        "JOIN gaiadr3.gaia_source AS g ON g.source_id = v.source_id "
        f"WHERE v.source_id IN ({ids})"
    )


# --------------------------------------------------------------------------- #
# Parsing the archive's formats
# --------------------------------------------------------------------------- #
def parse_table(content: bytes, fmt: str, where: str, required: list[str]):
    """A TAP answer (VOTable or CSV) as a frame with the ``required`` columns.

    Raises
    ------
    GaiaError
        Naming ``where`` and the line (CSV, VOTable syntax) or the missing
        column, or quoting the archive's own error message.
    """
    if fmt == "csv":
        table = _parse_csv(content, where)
    elif fmt == "votable":
        table = _parse_votable(content, where)
    else:
        raise GaiaError(f"{where}: unknown response format {fmt!r}")
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise GaiaError(f"{where}: missing columns {missing}")
    return table


def _parse_csv(content: bytes, where: str) -> pd.DataFrame:
    if not content.strip():
        raise GaiaError(f"{where}: empty response")
    try:
        return pd.read_csv(bytes_io.BytesIO(content))
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise GaiaError(f"{where}: malformed CSV ({err})") from None


def _parse_votable(content: bytes, where: str) -> pd.DataFrame:
    if not content.strip():
        raise GaiaError(f"{where}: empty response")
    try:
        votable = parse_votable(bytes_io.BytesIO(content), verify="ignore")
    except Exception as err:  # astropy raises many kinds; each names the line
        raise GaiaError(f"{where}: malformed VOTable ({err})") from None
    for info in getattr(votable.resources[0], "infos", []) if votable.resources else []:
        if info.name == "QUERY_STATUS" and info.value == "ERROR":
            raise GaiaError(f"{where}: the archive answered an error: {info.content}")
    tables = list(votable.iter_tables())
    if not tables:
        raise GaiaError(f"{where}: the VOTable holds no table")
    table = tables[0].to_table(use_names_over_ids=True).to_pandas()
    for column in table.columns:
        if table[column].dtype == object:
            table[column] = table[column].map(
                lambda v: v.decode() if isinstance(v, bytes) else v
            )
    return table


# --------------------------------------------------------------------------- #
# Talking to the archive, with a cache
# --------------------------------------------------------------------------- #
class Archive:
    """A Gaia archive: TAP and DataLink addresses, and a checksummed cache.

    Parameters
    ----------
    tap_url, datalink_url : str
        The TAP service (``<tap_url>/sync`` is asked) and the DataLink service.
    cache_dir : path
        Where the responses are saved, with ``manifest.json``.
    timeout_s : float
        Seconds to wait for the server.
    retries : int
        Further attempts after a timeout, a dropped connection or a 5xx answer.
    """

    def __init__(
        self,
        tap_url: str,
        datalink_url: str,
        cache_dir: str | Path,
        *,
        timeout_s: float = 60.0,
        retries: int = 3,
    ) -> None:
        self.tap_url = tap_url.rstrip("/")
        self.datalink_url = datalink_url
        self.cache_dir = Path(cache_dir)
        self.timeout_s = timeout_s
        self.retries = retries
        self.manifest_path = self.cache_dir / "manifest.json"
        self.manifest = (
            json.loads(self.manifest_path.read_text())
            if self.manifest_path.exists()
            else {"responses": {}}
        )
        self.session = requests.Session()

    def query(self, adql: str, fmt: str) -> tuple[bytes, Path]:
        """The archive's answer to an ADQL query, from the cache when saved."""
        params = {"REQUEST": "doQuery", "LANG": "ADQL", "FORMAT": fmt, "QUERY": adql}
        return self._fetch(f"{self.tap_url}/sync", params, fmt, method="POST")

    def epoch_photometry(self, source_ids: list[int], fmt: str) -> tuple[bytes, Path]:
        """The G, BP, RP epoch photometry of Gaia sources (DataLink answer)."""
        params = {
            "RETRIEVAL_TYPE": "EPOCH_PHOTOMETRY",
            "ID": ",".join(str(int(s)) for s in source_ids),
            "FORMAT": fmt,
            "DATA_STRUCTURE": "COMBINED",
            "VALID_DATA": "false",
        }
        return self._fetch(self.datalink_url, params, fmt, method="GET")

    def _fetch(
        self, url: str, params: dict, fmt: str, method: str
    ) -> tuple[bytes, Path]:
        request = json.dumps({"url": url, **params}, sort_keys=True)
        key = hashlib.sha256(request.encode()).hexdigest()[:24]
        path = self.cache_dir / "responses" / f"{key}.{fmt}"
        entry = self.manifest["responses"].get(key)
        if entry and path.exists():
            content = path.read_bytes()
            if hashlib.sha256(content).hexdigest() == entry["sha256"]:
                return content, path
            log.warning("%s: checksum differs from the manifest; asking again", path)

        started = time.monotonic()
        content = self._send(url, params, method)
        digest = hashlib.sha256(content).hexdigest()
        io.write_atomic(path, lambda tmp: Path(tmp).write_bytes(content))
        self.manifest["responses"][key] = {
            "request": {"url": url, **params},
            "file": path.name,
            "sha256": digest,
            "bytes": len(content),
        }
        self._save_manifest()
        log.info(
            "%s: %d bytes in %.2f s",
            path.name,
            len(content),
            time.monotonic() - started,
        )
        return content, path

    def _send(self, url: str, params: dict, method: str) -> bytes:
        last = None
        for attempt in range(self.retries + 1):
            try:
                if method == "POST":
                    answer = self.session.post(url, data=params, timeout=self.timeout_s)
                else:
                    answer = self.session.get(
                        url, params=params, timeout=self.timeout_s
                    )
            except (requests.ConnectionError, requests.Timeout) as err:
                last = err
            else:
                if answer.status_code < 500:
                    if answer.status_code >= 400:
                        raise GaiaError(
                            f"{url}: HTTP {answer.status_code}: {answer.text[:300]}"
                        )
                    return answer.content
                last = GaiaError(f"{url}: HTTP {answer.status_code}")
            time.sleep(min(0.5 * 2**attempt, 4.0))
        raise GaiaError(f"{url}: no answer after {self.retries + 1} attempts ({last})")

    def _save_manifest(self) -> None:
        text = json.dumps(self.manifest, indent=2, sort_keys=True)
        io.write_atomic(self.manifest_path, lambda tmp: Path(tmp).write_text(text))


# --------------------------------------------------------------------------- #
# Cross-match and labels
# --------------------------------------------------------------------------- #
def _batches(n: int, size: int):
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def _collect(
    batches, ask: Callable[[object], tuple[bytes, Path]], fmt: str, required
) -> tuple[list[pd.DataFrame], list[str]]:
    """Ask for every batch; a bad answer fails its batch only."""
    tables, failures = [], []
    for batch in batches:
        try:
            content, path = ask(batch)
            tables.append(parse_table(content, fmt, str(path), required))
        except GaiaError as err:
            log.error("Gaia batch failed: %s", err)
            failures.append(str(err))
    return tables, failures


def match_by_position(
    stars: pd.DataFrame,
    archive: Archive,
    *,
    radius_arcsec: float,
    batch_size: int,
    fmt: str,
) -> tuple[pd.DataFrame, list[str]]:
    """The nearest classified Gaia source within the radius of each star.

    ``stars`` has ``source_id``, ``ra`` and ``dec`` (degrees); stars without a
    position are skipped. Returns one row per matched star (``source_id``,
    ``gaia_source_id``, ``best_class_name``, ``best_class_score``,
    ``separation_arcsec``) and the messages of failed batches.
    """
    located = stars.dropna(subset=["ra", "dec"]).reset_index(drop=True)
    tables, failures = _collect(
        _batches(len(located), batch_size),
        lambda s: archive.query(
            cone_query(
                located["ra"].to_numpy()[s], located["dec"].to_numpy()[s], radius_arcsec
            ),
            fmt,
        ),
        fmt,
        [*CLASSIFICATION_COLUMNS, "ra", "dec"],
    )
    found = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    if found.empty or located.empty:
        return _empty_match(), failures
    found = found.drop_duplicates("source_id").reset_index(drop=True)

    ours = SkyCoord(located["ra"].to_numpy() * u.deg, located["dec"].to_numpy() * u.deg)
    theirs = SkyCoord(found["ra"].to_numpy() * u.deg, found["dec"].to_numpy() * u.deg)
    nearest, separation, _ = ours.match_to_catalog_sky(theirs)
    close = separation.arcsec <= radius_arcsec
    matched = found.iloc[nearest[close]].reset_index(drop=True)
    return (
        pd.DataFrame(
            {
                "source_id": located.loc[close, "source_id"].astype(str).to_numpy(),
                "gaia_source_id": matched["source_id"].astype("int64").to_numpy(),
                "best_class_name": matched["best_class_name"].astype(str).to_numpy(),
                "best_class_score": matched["best_class_score"]
                .astype(float)
                .to_numpy(),
                "separation_arcsec": separation.arcsec[close],
            }
        ),
        failures,
    )


def match_by_id(
    stars: pd.DataFrame, archive: Archive, *, batch_size: int, fmt: str
) -> tuple[pd.DataFrame, list[str]]:
    """The classification of each star's ``gaia_source_id`` (given, not matched)."""
    known = stars.dropna(subset=["gaia_source_id"]).reset_index(drop=True)
    ids = known["gaia_source_id"].astype("int64").to_numpy()
    tables, failures = _collect(
        _batches(len(ids), batch_size),
        lambda s: archive.query(id_query(list(ids[s])), fmt),
        fmt,
        CLASSIFICATION_COLUMNS,
    )
    if not tables:
        return _empty_match(), failures
    found = pd.concat(tables, ignore_index=True).drop_duplicates("source_id")
    found = found.rename(columns={"source_id": "gaia_source_id"})
    found["gaia_source_id"] = found["gaia_source_id"].astype("int64")
    known["gaia_source_id"] = ids
    matched = known[["source_id", "gaia_source_id"]].merge(found, on="gaia_source_id")
    matched["separation_arcsec"] = np.nan
    return matched[_empty_match().columns], failures


def _empty_match() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source_id": pd.Series(dtype=str),
            "gaia_source_id": pd.Series(dtype="int64"),
            "best_class_name": pd.Series(dtype=str),
            "best_class_score": pd.Series(dtype=float),
            "separation_arcsec": pd.Series(dtype=float),
        }
    )


def gaia_labels(
    labels: pd.DataFrame,
    matches: pd.DataFrame,
    class_map: dict[str, str],
    min_class_score: float,
) -> pd.DataFrame:
    """The dataset's labels with the Gaia class of each matched star.

    ``class_name`` becomes ``class_map[best_class_name]`` (NaN for an
    unmatched star or a Gaia class outside the map); ``use_for_training`` is
    true where a class was mapped and ``best_class_score >= min_class_score``.
    Stars not used for training are in the split ``unlabelled``.
    """
    merged = labels.drop(columns=["class_name"]).merge(
        matches, on="source_id", how="left"
    )
    merged["class_name"] = merged["best_class_name"].map(class_map)
    merged["use_for_training"] = merged["class_name"].notna() & (
        merged["best_class_score"] >= min_class_score
    )
    merged["split"] = np.where(merged["use_for_training"], "train", "unlabelled")
    return merged


def training_labels(
    labelled: pd.DataFrame, holdout_fraction: float, seed: int
) -> pd.DataFrame:
    """The stars usable for training, with a seeded stratified test split.

    Keeps the rows of :func:`gaia_labels` with ``use_for_training`` and the
    columns of :data:`varsky.io.LABEL_COLUMNS` (plus ``gaia_source_id`` and
    ``best_class_score``); a class with fewer than two stars stays in train.
    """
    from varsky.ingest import holdout_split

    usable = labelled[labelled["use_for_training"]].copy()
    usable["split"] = "train"
    counts = usable["class_name"].value_counts()
    splittable = usable["class_name"].map(counts) >= 2
    if splittable.sum() >= 2 and usable.loc[splittable, "class_name"].nunique() > 1:
        split = holdout_split(usable[splittable], holdout_fraction, seed)
        usable.loc[splittable, "split"] = split["split"].to_numpy()
    columns = [*io.LABEL_COLUMNS, "gaia_source_id", "best_class_score"]
    return usable[[c for c in columns if c in usable]].reset_index(drop=True)


# --------------------------------------------------------------------------- #
# Epoch photometry
# --------------------------------------------------------------------------- #
def _unpack(content: bytes) -> list[tuple[str, bytes]]:
    """The member files of a zip answer, or the answer itself."""
    if content[:2] != b"PK":
        return [("", content)]
    with zipfile.ZipFile(bytes_io.BytesIO(content)) as bundle:
        return [(name, bundle.read(name)) for name in sorted(bundle.namelist())]


def epoch_lightcurves(content: bytes, fmt: str, where: str) -> pd.DataFrame:
    """Tidy light curves (bands G, BP, RP) from a DataLink epoch-photometry answer.

    Time is turned into MJD(TCB); the magnitude error is
    ``2.5 / ln 10 / (flux / flux_error)``; epochs Gaia rejected in its
    variability processing get the flags bit :data:`REJECTED_BY_VARIABILITY`
    (dropped by the clean stage as ``flagged_other``).
    """
    frames = []
    for name, member in _unpack(content):
        table = parse_table(member, fmt, f"{where}{':' + name if name else ''}", [])
        missing = [c for c in EPOCH_COLUMNS if c not in table]
        if missing:
            raise GaiaError(
                f"{where}{':' + name if name else ''}: missing columns {missing}"
            )
        frames.append(table)
    table = pd.concat(frames, ignore_index=True)
    rejected = (
        table["rejected_by_variability"].astype(str).str.lower().isin(["true", "1"])
        if "rejected_by_variability" in table
        else False
    )
    return io.to_tidy(
        pd.DataFrame(
            {
                "source_id": table["source_id"].astype("int64").astype(str),
                "band": table["band"].astype(str),
                "time": table["time"].astype(float) + GAIA_TIME_TO_MJD,
                "mag": table["mag"].astype(float),
                "mag_err": 2.5 / np.log(10) / table["flux_over_error"].astype(float),
                "flags": np.where(rejected, REJECTED_BY_VARIABILITY, 0),
            }
        )
    )


def fetch_epoch_photometry(
    gaia_ids: list[int], archive: Archive, *, batch_size: int, fmt: str
) -> tuple[pd.DataFrame, list[str]]:
    """Epoch photometry of the given Gaia sources, batch by batch."""
    frames, failures = [], []
    ids = np.asarray(gaia_ids, dtype="int64")
    for batch in _batches(len(ids), batch_size):
        try:
            content, path = archive.epoch_photometry(list(ids[batch]), fmt)
            frames.append(epoch_lightcurves(content, fmt, str(path)))
        except GaiaError as err:
            log.error("Gaia epoch photometry batch failed: %s", err)
            failures.append(str(err))
    if not frames:
        return io.LIGHTCURVE_SCHEMA.empty_table().to_pandas(), failures
    return pd.concat(frames, ignore_index=True), failures


def check_failures(failures: list[str], n_found: int) -> None:
    """Go on when some batches failed (logged), stop when nothing came back.

    Raises
    ------
    GaiaError
        When batches failed and no row was found at all, with the first
        failure's message: the archive is unreachable or the request wrong.
    """
    if not failures:
        return
    log.warning("%d Gaia batches failed; their stars have no Gaia data", len(failures))
    if n_found == 0:
        raise GaiaError(f"no Gaia batch was answered; the first failure: {failures[0]}")
