"""Fetch the public files of a dataset: checksummed, cached and resumable.

Each file is written to ``<name>.part`` beside its destination while its SHA-256
is computed, compared with the pinned sum, and only then renamed into place, so
the final name never holds a partial or unverified file. A file already in place
with the pinned sum is not fetched again. An HTTP transfer that was cut off
resumes from the ``.part`` file with a ``Range`` request.

Files come from a base address or from a mirror, which may be a local directory,
a ``file://`` URL or an ``http(s)://`` URL; the workflow sets the mirror through
its ``download_mirror`` config option.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO
from urllib.parse import quote, urljoin, urlparse
from urllib.request import url2pathname

import requests
from urllib3.exceptions import NewConnectionError, ProtocolError, ReadTimeoutError

logger = logging.getLogger(__name__)

#: Bytes read and hashed at a time.
CHUNK_BYTES = 1 << 20

#: Pause before the first retry, doubled for each further one.
RETRY_BACKOFF_S = 0.5

#: Longest pause between two retries.
RETRY_BACKOFF_MAX_S = 4.0

#: HTTP answers that mean the file is not at the source.
MISSING_STATUS_CODES = frozenset({404, 410})

MIRROR_HINT = (
    "Without network access, point varsky at a local copy of the files with the "
    "config option download_mirror (a directory, a file:// URL or an http(s):// "
    "URL), e.g. `snakemake --config download_mirror=/path/to/mirror`."
)


class DownloadError(RuntimeError):
    """A dataset file could not be fetched or failed its checksum."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset, pinned by its checksum.

    Parameters
    ----------
    name : str
        File name relative to the base address, with ``/`` between folders.
    sha256 : str
        Expected SHA-256 of the file, lowercase hexadecimal.
    optional : bool, default False
        If true, a file absent from the source is recorded as missing instead of
        raising `DownloadError`.
    """

    name: str
    sha256: str
    optional: bool = False


class _MissingFileError(Exception):
    """The source answered that the file does not exist."""


class _TransientError(Exception):
    """A failure worth retrying: timeout, dropped connection, server error."""


def resolve_base(base_url: str, mirror: str | None) -> str:
    """Return the address the files of a dataset are fetched from.

    Parameters
    ----------
    base_url : str
        Address of the public copy of the dataset, an ``http(s)://`` URL.
    mirror : str or None
        Replacement for `base_url`: a local directory (relative paths are taken
        from the current directory), a ``file://`` URL or an ``http(s)://`` URL.
        None or an empty string means no mirror.

    Returns
    -------
    str
        An ``http(s)://`` or ``file://`` URL ending in ``/``; a directory mirror
        is turned into the ``file://`` URL of its absolute path.

    Raises
    ------
    DownloadError
        If a local mirror is not an existing directory, or the address has a
        scheme other than ``http``, ``https`` or ``file``.
    """
    if not mirror:
        return _with_trailing_slash(_checked_url(base_url))

    scheme = urlparse(mirror).scheme
    if scheme in ("http", "https", "file"):
        base = _checked_url(mirror)
    else:
        base = Path(mirror).expanduser().resolve().as_uri()

    if base.startswith("file:"):
        _require_directory(_local_path(base), mirror)
    return _with_trailing_slash(base)


def fetch_dataset(
    files: list[RemoteFile],
    base_url: str,
    dest_dir: Path,
    *,
    mirror: str | None = None,
    timeout_s: float = 60.0,
    retries: int = 3,
) -> dict:
    """Fetch every file of a dataset into a folder and describe the result.

    Parameters
    ----------
    files : list of RemoteFile
        The files to fetch, with their pinned checksums.
    base_url : str
        Address of the public copy of the dataset; each file is fetched from
        ``base_url + name``.
    dest_dir : pathlib.Path
        Folder the files are written to; created if needed.
    mirror : str or None, optional
        Replacement for `base_url`, see `resolve_base`.
    timeout_s : float, default 60.0
        Seconds to wait for a connection or for the next bytes of an answer.
    retries : int, default 3
        Further attempts after a timeout, a dropped connection or a 5xx answer.

    Returns
    -------
    dict
        JSON-serialisable manifest ``{"source": base, "files": {name: entry}}``
        where each entry holds ``status`` (``"downloaded"``, ``"cached"`` or
        ``"missing"``), ``sha256`` (the verified sum, None when missing),
        ``bytes`` (0 when missing) and ``url``.

    Raises
    ------
    DownloadError
        If a required file is missing, a checksum differs, the source cannot be
        reached (the message tells how to set ``download_mirror``), or the
        retries run out.
    """
    source = resolve_base(base_url, mirror)
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)

    with requests.Session() as session:
        entries = {
            remote.name: _fetch_file(
                remote, source, dest_dir, session, timeout_s=timeout_s, retries=retries
            )
            for remote in files
        }
    return {"source": source, "files": entries}


def _fetch_file(
    remote: RemoteFile,
    source: str,
    dest_dir: Path,
    session: requests.Session,
    *,
    timeout_s: float,
    retries: int,
) -> dict:
    """Bring one file into place and return its manifest entry."""
    started = time.monotonic()
    url = urljoin(source, quote(remote.name))
    target = dest_dir / _relative_path(remote.name)
    part = target.with_name(target.name + ".part")

    if _is_cached(target, remote.sha256):
        entry = _entry("cached", remote.sha256, target.stat().st_size, url)
    else:
        entry = _transfer(remote, url, target, part, session, timeout_s, retries)

    logger.info(
        "%s: %s, %d bytes, %.2f s",
        remote.name,
        entry["status"],
        entry["bytes"],
        time.monotonic() - started,
    )
    return entry


def _transfer(
    remote: RemoteFile,
    url: str,
    target: Path,
    part: Path,
    session: requests.Session,
    timeout_s: float,
    retries: int,
) -> dict:
    """Fetch one file into ``part``, verify it, and rename it to ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        if url.startswith("file:"):
            received = _copy_local(_local_path(url), part)
        else:
            received = _download_http(session, url, part, timeout_s, retries)
    except _MissingFileError:
        part.unlink(missing_ok=True)
        if not remote.optional:
            raise DownloadError(
                f"{remote.name}: required file not found at {url}"
            ) from None
        return _entry("missing", None, 0, url)

    _verify(part, remote, url, received)
    os.replace(part, target)
    return _entry("downloaded", received, target.stat().st_size, url)


def _entry(status: str, sha256: str | None, size: int, url: str) -> dict:
    """Build the manifest entry of one file."""
    return {"status": status, "sha256": sha256, "bytes": size, "url": url}


def _is_cached(target: Path, expected: str) -> bool:
    """Tell whether ``target`` already holds the file; drop it if it is wrong."""
    if not target.is_file():
        return False
    received = _hash_file(target).hexdigest()
    if received == expected.lower():
        return True
    logger.warning(
        "%s: checksum %s differs from the pinned %s; fetching it again",
        target,
        received,
        expected,
    )
    target.unlink()
    return False


def _verify(part: Path, remote: RemoteFile, url: str, received: str) -> None:
    """Delete ``part`` and raise unless its checksum is the pinned one."""
    if received == remote.sha256.lower():
        return
    part.unlink(missing_ok=True)
    raise DownloadError(
        f"{remote.name}: checksum mismatch for {url}: expected sha256 "
        f"{remote.sha256}, received {received}"
    )


def _copy_local(path: Path, part: Path) -> str:
    """Copy a file from a local mirror into ``part``; return its SHA-256."""
    if not path.is_file():
        raise _MissingFileError(path)
    digest = hashlib.sha256()
    with path.open("rb") as reader, part.open("wb") as writer:
        for chunk in iter(lambda: reader.read(CHUNK_BYTES), b""):
            writer.write(chunk)
            digest.update(chunk)
        _sync(writer)
    return digest.hexdigest()


def _download_http(
    session: requests.Session, url: str, part: Path, timeout_s: float, retries: int
) -> str:
    """Download ``url`` into ``part``, retrying transient failures."""
    for attempt in range(retries):
        try:
            return _request_once(session, url, part, timeout_s)
        except _TransientError as error:
            pause = min(RETRY_BACKOFF_S * 2**attempt, RETRY_BACKOFF_MAX_S)
            logger.warning("%s: %s; retrying in %.1f s", url, error, pause)
            time.sleep(pause)

    try:
        return _request_once(session, url, part, timeout_s)
    except _TransientError as error:
        raise DownloadError(
            f"could not fetch {url} after {max(retries, 0) + 1} attempt(s): "
            f"{error}. {MIRROR_HINT}"
        ) from error


def _request_once(
    session: requests.Session, url: str, part: Path, timeout_s: float
) -> str:
    """Make one request for ``url``, resuming ``part``; return the SHA-256."""
    offset = part.stat().st_size if part.is_file() else 0
    # Ask for the bytes as stored: a content coding would change the checksum.
    headers = {"Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        with session.get(
            url, headers=headers, stream=True, timeout=timeout_s
        ) as response:
            _check_status(response, url, part, offset)
            resumed = response.status_code == 206
            return _write_body(response, part, append=resumed)
    except requests.exceptions.SSLError as error:
        raise DownloadError(f"TLS failure while fetching {url}: {error}") from error
    except requests.Timeout as error:
        raise _TransientError(f"timed out: {error}") from error
    except requests.ConnectionError as error:
        if _is_unreachable(error):
            raise DownloadError(
                f"cannot reach {url}: the host cannot be resolved or refused the "
                f"connection. {MIRROR_HINT}"
            ) from error
        raise _TransientError(f"connection failed: {error}") from error
    except (ProtocolError, ReadTimeoutError) as error:
        raise _TransientError(f"transfer broken off: {error}") from error


def _check_status(
    response: requests.Response, url: str, part: Path, offset: int
) -> None:
    """Sort an HTTP answer into success, missing, transient or fatal."""
    status = response.status_code
    if status in MISSING_STATUS_CODES:
        raise _MissingFileError(url)
    if status >= 500:
        raise _TransientError(f"server answered HTTP {status}")
    if status == 416 and offset:
        part.unlink(missing_ok=True)
        raise _TransientError("server refused to resume; starting over")
    if status == 206 and _range_start(response) != offset:
        part.unlink(missing_ok=True)
        raise _TransientError("server resumed at the wrong offset; starting over")
    if status not in (200, 206):
        raise DownloadError(f"fetching {url} failed with HTTP {status}")


def _range_start(response: requests.Response) -> int | None:
    """Return the first byte offset named by a ``Content-Range`` header."""
    content_range = response.headers.get("Content-Range", "")
    unit, _, span = content_range.partition(" ")
    start = span.partition("-")[0]
    if unit != "bytes" or not start.isdigit():
        return None
    return int(start)


def _write_body(response: requests.Response, part: Path, *, append: bool) -> str:
    """Stream an answer's body into ``part``; return the SHA-256 of the whole."""
    digest = _hash_file(part) if append else hashlib.sha256()
    expected = response.headers.get("Content-Length")
    received = 0
    with part.open("ab" if append else "wb") as writer:
        for chunk in _body_chunks(response):
            writer.write(chunk)
            digest.update(chunk)
            received += len(chunk)
        _sync(writer)
    if expected is not None and expected.isdigit() and received < int(expected):
        raise _TransientError(f"received {received} of {expected} bytes")
    return digest.hexdigest()


def _body_chunks(response: requests.Response) -> Iterator[bytes]:
    """Yield an answer's body as sent, including the bytes before a break.

    The raw stream is read without decoding, so the bytes hashed are the bytes
    stored by the server, and each read returns what has arrived instead of
    waiting for a full chunk, so a broken transfer keeps every byte it got.
    """
    raw = response.raw
    read = getattr(raw, "read1", raw.read)
    while chunk := read(CHUNK_BYTES, decode_content=False):
        yield chunk


def _is_unreachable(error: requests.ConnectionError) -> bool:
    """Tell whether a connection failed before reaching any server."""
    reason = error.args[0] if error.args else None
    reason = getattr(reason, "reason", reason)
    return isinstance(reason, NewConnectionError)


def _hash_file(path: Path) -> hashlib._Hash:
    """Return the SHA-256 state of a file's current contents."""
    digest = hashlib.sha256()
    with path.open("rb") as reader:
        for chunk in iter(lambda: reader.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest


def _sync(writer: BinaryIO) -> None:
    """Push a file's written bytes to disk before it is renamed or resumed."""
    writer.flush()
    os.fsync(writer.fileno())


def _relative_path(name: str) -> Path:
    """Turn a file name into a path that stays inside the destination folder."""
    parts = PurePosixPath(name).parts
    if not parts or name.startswith("/") or ".." in parts:
        raise DownloadError(
            f"file name {name!r} must be a relative path inside the dataset"
        )
    return Path(*parts)


def _checked_url(url: str) -> str:
    """Return ``url`` if its scheme is one varsky can fetch from."""
    if urlparse(url).scheme not in ("http", "https", "file"):
        raise DownloadError(
            f"cannot fetch from {url!r}: use an http(s):// or file:// URL or a "
            "local directory"
        )
    return url


def _local_path(url: str) -> Path:
    """Return the local path named by a ``file://`` URL."""
    parsed = urlparse(url)
    if parsed.netloc not in ("", "localhost"):
        raise DownloadError(
            f"file URL {url!r} names host {parsed.netloc!r}; write it as "
            "file:///absolute/path"
        )
    return Path(url2pathname(parsed.path))


def _require_directory(path: Path, mirror: str) -> None:
    """Raise unless a local mirror exists as a directory."""
    if not path.is_dir():
        raise DownloadError(
            f"download_mirror {mirror!r} is not an existing directory ({path})"
        )


def _with_trailing_slash(url: str) -> str:
    """Make a base address end in ``/`` so file names join onto it."""
    return url if url.endswith("/") else url + "/"
