"""Tests of the download stage against local HTTP servers and local mirrors."""

from __future__ import annotations

import hashlib
import json
import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from varsky import download
from varsky.download import DownloadError, RemoteFile, fetch_dataset, resolve_base

EROS1_DIR = Path("/work/shared/data/eros1")
EROS1_BASE_URL = (
    "https://raw.githubusercontent.com/ramp-kits/variable_stars/"
    "3fbaa2dfc64fa7c41859e853db485ae163552254/data/"
)
EROS1_TRAIN_SHA256 = "3c78f865ae57abe6b5024666e93bab0d36015962db8f90baecfaf73db160a9ce"
EROS1_TRAIN_BYTES = 502288
EROS1_TEST_SHA256 = "93ff2d1bbe170d59202b443712dec7260351bb26ea49eb7930399f272ad847f6"

UNRESOLVABLE_URL = "http://varsky-no-such-host.invalid/"
LIGHT_CURVE_BYTES = 20_000


@dataclass
class ServerState:
    """What the test server serves, how it misbehaves, and what it was asked."""

    root: Path
    url: str = ""
    range_support: bool = True
    server_errors: dict[str, int] = field(default_factory=dict)
    truncations: dict[str, int] = field(default_factory=dict)
    dropped_connections: dict[str, int] = field(default_factory=dict)
    stalls: dict[str, int] = field(default_factory=dict)
    tampered: set[str] = field(default_factory=set)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    body_bytes_sent: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, counts: dict[str, int], name: str) -> bool:
        """Use up one planned misbehaviour for ``name``; tell if one was left."""
        with self.lock:
            if counts.get(name, 0) <= 0:
                return False
            counts[name] -= 1
            return True


class MisbehavingFileHandler(BaseHTTPRequestHandler):
    """Serve files from ``server.state.root`` with Range and planned failures."""

    def do_GET(self) -> None:
        state: ServerState = self.server.state
        name = self.path.lstrip("/")
        with state.lock:
            state.requests.append((name, self.headers.get("Range")))

        if state.take(state.dropped_connections, name):
            self.close_connection = True
            return
        if state.take(state.stalls, name):
            time.sleep(1.0)
        if state.take(state.server_errors, name):
            self.send_error(503)
            return

        path = state.root / name
        if not path.is_file():
            self.send_error(404)
            return
        body = path.read_bytes()
        if name in state.tampered:
            body = bytes([body[0] ^ 0xFF]) + body[1:]
        self.send_body(state, name, body)

    def send_body(self, state: ServerState, name: str, body: bytes) -> None:
        start = self.requested_start(state)
        if start is not None and start >= len(body):
            self.send_error(416)
            return
        if start is None:
            self.send_response(200)
            payload = body
        else:
            self.send_response(206)
            self.send_header(
                "Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}"
            )
            payload = body[start:]
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()

        if state.take(state.truncations, name):
            payload = payload[: len(payload) // 2]
            self.close_connection = True
        self.wfile.write(payload)
        with state.lock:
            state.body_bytes_sent += len(payload)

    def requested_start(self, state: ServerState) -> int | None:
        header = self.headers.get("Range")
        if not state.range_support or not header:
            return None
        return int(header.removeprefix("bytes=").partition("-")[0])

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    monkeypatch.setattr(download, "RETRY_BACKOFF_S", 0.0)


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    """Keep a proxy configured on the machine away from the local servers."""
    monkeypatch.setenv("NO_PROXY", "*")
    monkeypatch.setenv("no_proxy", "*")


@pytest.fixture
def served_dir(tmp_path: Path) -> Path:
    root = tmp_path / "served"
    root.mkdir()
    return root


@pytest.fixture
def server(served_dir: Path):
    """Yield the state of an HTTP server on 127.0.0.1 serving ``served_dir``."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), MisbehavingFileHandler)
    httpd.state = ServerState(root=served_dir)
    httpd.state.url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield httpd.state
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def write_light_curve_file(folder: Path, name: str, seed: int = 7) -> RemoteFile:
    """Write a small file of random bytes and return it pinned by its checksum."""
    content = np.random.default_rng(seed).bytes(LIGHT_CURVE_BYTES)
    (folder / name).write_bytes(content)
    return RemoteFile(name, hashlib.sha256(content).hexdigest())


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def refused_url() -> str:
    """Return an address on 127.0.0.1 where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


# --- resolve_base -------------------------------------------------------------


def test_resolve_base_without_mirror_keeps_base_url():
    assert resolve_base(EROS1_BASE_URL, None) == EROS1_BASE_URL
    assert resolve_base("http://example.org/data", "") == "http://example.org/data/"


def test_resolve_base_http_mirror_replaces_base_url():
    mirror = "http://127.0.0.1:8000"
    assert resolve_base(EROS1_BASE_URL, mirror) == "http://127.0.0.1:8000/"


def test_resolve_base_turns_directory_into_file_url(tmp_path, monkeypatch):
    (tmp_path / "mirror").mkdir()
    monkeypatch.chdir(tmp_path)
    expected = (tmp_path / "mirror").as_uri() + "/"
    assert resolve_base(EROS1_BASE_URL, "mirror") == expected
    assert resolve_base(EROS1_BASE_URL, str(tmp_path / "mirror")) == expected
    assert resolve_base(EROS1_BASE_URL, (tmp_path / "mirror").as_uri()) == expected


def test_resolve_base_rejects_missing_directory(tmp_path):
    with pytest.raises(DownloadError, match="download_mirror"):
        resolve_base(EROS1_BASE_URL, str(tmp_path / "absent"))


# --- HTTP downloads -----------------------------------------------------------


def test_http_download_verifies_and_renames(served_dir, server, tmp_path):
    remote = write_light_curve_file(served_dir, "lc.bin")
    dest = tmp_path / "out"

    manifest = fetch_dataset([remote], server.url, dest)

    assert manifest == {
        "source": server.url,
        "files": {
            "lc.bin": {
                "status": "downloaded",
                "sha256": remote.sha256,
                "bytes": LIGHT_CURVE_BYTES,
                "url": server.url + "lc.bin",
            }
        },
    }
    assert json.loads(json.dumps(manifest)) == manifest
    assert sha256_of(dest / "lc.bin") == remote.sha256
    assert sorted(p.name for p in dest.iterdir()) == ["lc.bin"]
    assert server.requests == [("lc.bin", None)]


def test_second_call_is_cached_without_request(served_dir, server, tmp_path):
    remote = write_light_curve_file(served_dir, "lc.bin")
    fetch_dataset([remote], server.url, tmp_path)

    manifest = fetch_dataset([remote], server.url, tmp_path)

    assert manifest["files"]["lc.bin"]["status"] == "cached"
    assert manifest["files"]["lc.bin"]["bytes"] == LIGHT_CURVE_BYTES
    assert len(server.requests) == 1


def test_existing_file_with_wrong_checksum_is_fetched_again(
    served_dir, server, tmp_path
):
    remote = write_light_curve_file(served_dir, "lc.bin")
    (tmp_path / "lc.bin").write_bytes(b"stale copy")

    manifest = fetch_dataset([remote], server.url, tmp_path)

    assert manifest["files"]["lc.bin"]["status"] == "downloaded"
    assert sha256_of(tmp_path / "lc.bin") == remote.sha256
    assert server.requests == [("lc.bin", None)]


def test_tampered_file_raises_and_leaves_nothing(served_dir, server, tmp_path):
    remote = write_light_curve_file(served_dir, "lc.bin")
    server.tampered.add("lc.bin")
    tampered = bytearray((served_dir / "lc.bin").read_bytes())
    tampered[0] ^= 0xFF
    received = hashlib.sha256(tampered).hexdigest()
    dest = tmp_path / "out"

    with pytest.raises(DownloadError) as caught:
        fetch_dataset([remote], server.url, dest)

    message = str(caught.value)
    assert "lc.bin" in message
    assert server.url + "lc.bin" in message
    assert remote.sha256 in message
    assert received in message
    assert list(dest.iterdir()) == []


def test_part_file_is_resumed_with_range(served_dir, server, tmp_path):
    remote = write_light_curve_file(served_dir, "lc.bin")
    head = (served_dir / "lc.bin").read_bytes()[:6000]
    (tmp_path / "lc.bin.part").write_bytes(head)

    manifest = fetch_dataset([remote], server.url, tmp_path)

    assert server.requests == [("lc.bin", "bytes=6000-")]
    assert server.body_bytes_sent == LIGHT_CURVE_BYTES - 6000
    assert manifest["files"]["lc.bin"]["status"] == "downloaded"
    assert sha256_of(tmp_path / "lc.bin") == remote.sha256
    assert not (tmp_path / "lc.bin.part").exists()


def test_part_file_starts_over_on_200(served_dir, server, tmp_path):
    remote = write_light_curve_file(served_dir, "lc.bin")
    server.range_support = False
    (tmp_path / "lc.bin.part").write_bytes(b"bytes from another file")

    fetch_dataset([remote], server.url, tmp_path)

    assert server.requests == [("lc.bin", "bytes=23-")]
    assert server.body_bytes_sent == LIGHT_CURVE_BYTES
    assert sha256_of(tmp_path / "lc.bin") == remote.sha256


def test_part_file_as_long_as_the_file_starts_over_on_416(served_dir, server, tmp_path):
    remote = write_light_curve_file(served_dir, "lc.bin")
    (tmp_path / "lc.bin.part").write_bytes(b"y" * LIGHT_CURVE_BYTES)

    manifest = fetch_dataset([remote], server.url, tmp_path, retries=1)

    assert server.requests == [
        ("lc.bin", f"bytes={LIGHT_CURVE_BYTES}-"),
        ("lc.bin", None),
    ]
    assert manifest["files"]["lc.bin"]["status"] == "downloaded"
    assert sha256_of(tmp_path / "lc.bin") == remote.sha256


def test_corrupt_part_file_fails_the_final_checksum(served_dir, server, tmp_path):
    remote = write_light_curve_file(served_dir, "lc.bin")
    (tmp_path / "lc.bin.part").write_bytes(b"x" * 6000)

    with pytest.raises(DownloadError, match="checksum mismatch"):
        fetch_dataset([remote], server.url, tmp_path)

    assert server.requests == [("lc.bin", "bytes=6000-")]
    assert not (tmp_path / "lc.bin").exists()
    assert not (tmp_path / "lc.bin.part").exists()


def test_truncated_transfer_resumes_on_retry(served_dir, server, tmp_path):
    remote = write_light_curve_file(served_dir, "lc.bin")
    server.truncations["lc.bin"] = 1

    manifest = fetch_dataset([remote], server.url, tmp_path, retries=1)

    half = LIGHT_CURVE_BYTES // 2
    assert server.requests == [("lc.bin", None), ("lc.bin", f"bytes={half}-")]
    assert manifest["files"]["lc.bin"]["status"] == "downloaded"
    assert sha256_of(tmp_path / "lc.bin") == remote.sha256


def test_truncated_transfer_keeps_only_the_part_file(served_dir, server, tmp_path):
    remote = write_light_curve_file(served_dir, "lc.bin")
    server.truncations["lc.bin"] = 1

    with pytest.raises(DownloadError, match="1 attempt"):
        fetch_dataset([remote], server.url, tmp_path, retries=0)

    assert not (tmp_path / "lc.bin").exists()
    assert (tmp_path / "lc.bin.part").stat().st_size == LIGHT_CURVE_BYTES // 2


def test_server_errors_are_retried(served_dir, server, tmp_path):
    remote = write_light_curve_file(served_dir, "lc.bin")
    server.server_errors["lc.bin"] = 2

    manifest = fetch_dataset([remote], server.url, tmp_path, retries=2)

    assert len(server.requests) == 3
    assert manifest["files"]["lc.bin"]["status"] == "downloaded"


def test_server_errors_give_up_after_retries(served_dir, server, tmp_path):
    remote = write_light_curve_file(served_dir, "lc.bin")
    server.server_errors["lc.bin"] = 10

    with pytest.raises(DownloadError, match=r"after 3 attempt\(s\): .*HTTP 503"):
        fetch_dataset([remote], server.url, tmp_path, retries=2)

    assert len(server.requests) == 3
    assert not (tmp_path / "lc.bin").exists()


def test_dropped_connection_is_retried(served_dir, server, tmp_path):
    remote = write_light_curve_file(served_dir, "lc.bin")
    server.dropped_connections["lc.bin"] = 1

    manifest = fetch_dataset([remote], server.url, tmp_path, retries=1)

    assert len(server.requests) == 2
    assert sha256_of(tmp_path / "lc.bin") == remote.sha256
    assert manifest["files"]["lc.bin"]["bytes"] == LIGHT_CURVE_BYTES


def test_read_timeout_is_retried(served_dir, server, tmp_path):
    remote = write_light_curve_file(served_dir, "lc.bin")
    server.stalls["lc.bin"] = 1

    started = time.monotonic()
    fetch_dataset([remote], server.url, tmp_path, timeout_s=0.2, retries=1)

    assert time.monotonic() - started < 1.0
    assert len(server.requests) == 2
    assert sha256_of(tmp_path / "lc.bin") == remote.sha256


def test_missing_required_file_is_not_retried(server, tmp_path):
    remote = RemoteFile("absent.csv", "0" * 64)

    with pytest.raises(DownloadError) as caught:
        fetch_dataset([remote], server.url, tmp_path, retries=3)

    assert "absent.csv" in str(caught.value)
    assert server.url + "absent.csv" in str(caught.value)
    assert server.requests == [("absent.csv", None)]


def test_missing_optional_file_is_recorded(served_dir, server, tmp_path):
    present = write_light_curve_file(served_dir, "lc.bin")
    absent = RemoteFile("absent.csv", "0" * 64, optional=True)

    manifest = fetch_dataset([present, absent], server.url, tmp_path)

    assert manifest["files"]["absent.csv"] == {
        "status": "missing",
        "sha256": None,
        "bytes": 0,
        "url": server.url + "absent.csv",
    }
    assert manifest["files"]["lc.bin"]["status"] == "downloaded"
    assert server.requests == [("lc.bin", None), ("absent.csv", None)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lc.bin", "served"]


def test_http_mirror_replaces_unreachable_base(served_dir, server, tmp_path):
    remote = write_light_curve_file(served_dir, "lc.bin")

    manifest = fetch_dataset(
        [remote], UNRESOLVABLE_URL, tmp_path / "out", mirror=server.url
    )

    assert manifest["source"] == server.url
    assert manifest["files"]["lc.bin"]["url"] == server.url + "lc.bin"
    assert sha256_of(tmp_path / "out" / "lc.bin") == remote.sha256


def test_file_names_must_stay_inside_the_folder(server, tmp_path):
    with pytest.raises(DownloadError, match="relative path"):
        fetch_dataset([RemoteFile("../escape.csv", "0" * 64)], server.url, tmp_path)
    assert server.requests == []


# --- local mirrors ------------------------------------------------------------


def test_file_url_mirror_copies_and_verifies(served_dir, tmp_path):
    remote = write_light_curve_file(served_dir, "lc.bin")
    dest = tmp_path / "out"

    manifest = fetch_dataset(
        [remote], UNRESOLVABLE_URL, dest, mirror=served_dir.as_uri()
    )

    assert manifest["source"] == served_dir.as_uri() + "/"
    assert manifest["files"]["lc.bin"] == {
        "status": "downloaded",
        "sha256": remote.sha256,
        "bytes": LIGHT_CURVE_BYTES,
        "url": served_dir.as_uri() + "/lc.bin",
    }
    assert sorted(p.name for p in dest.iterdir()) == ["lc.bin"]


def test_file_url_mirror_with_wrong_content_raises(served_dir, tmp_path):
    remote = write_light_curve_file(served_dir, "lc.bin")
    (served_dir / "lc.bin").write_bytes(b"edited by hand")
    dest = tmp_path / "out"

    with pytest.raises(DownloadError, match=remote.sha256):
        fetch_dataset([remote], UNRESOLVABLE_URL, dest, mirror=served_dir.as_uri())

    assert list(dest.iterdir()) == []


@pytest.mark.skipif(not EROS1_DIR.is_dir(), reason="EROS-1 data not present")
def test_directory_mirror_with_real_eros1_train(tmp_path, monkeypatch):
    monkeypatch.chdir(EROS1_DIR.parent)
    train = RemoteFile("train.csv", EROS1_TRAIN_SHA256)
    test = RemoteFile("test.csv", EROS1_TEST_SHA256, optional=True)

    manifest = fetch_dataset([train, test], EROS1_BASE_URL, tmp_path, mirror="eros1")

    assert manifest["source"] == EROS1_DIR.as_uri() + "/"
    assert manifest["files"]["train.csv"]["status"] == "downloaded"
    assert manifest["files"]["train.csv"]["bytes"] == EROS1_TRAIN_BYTES
    assert manifest["files"]["test.csv"]["status"] == "missing"
    assert sha256_of(tmp_path / "train.csv") == EROS1_TRAIN_SHA256
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.csv"]


@pytest.mark.skipif(not EROS1_DIR.is_dir(), reason="EROS-1 data not present")
def test_directory_mirror_missing_required_file_raises(tmp_path):
    test = RemoteFile("test.csv", EROS1_TEST_SHA256)

    with pytest.raises(DownloadError, match=r"test\.csv: required file not found"):
        fetch_dataset([test], EROS1_BASE_URL, tmp_path, mirror=str(EROS1_DIR))


# --- no network ---------------------------------------------------------------


@pytest.mark.parametrize("failure", ["unresolvable", "refused"])
def test_unreachable_source_fails_fast_with_mirror_hint(failure, tmp_path, monkeypatch):
    base_url = UNRESOLVABLE_URL if failure == "unresolvable" else refused_url()
    remote = RemoteFile("train.csv", EROS1_TRAIN_SHA256)
    # A retry loop would show in the elapsed time.
    monkeypatch.setattr(download, "RETRY_BACKOFF_S", 1.0)

    started = time.monotonic()
    with pytest.raises(DownloadError) as caught:
        fetch_dataset([remote], base_url, tmp_path, retries=3)
    elapsed = time.monotonic() - started

    assert elapsed < 1.0
    message = str(caught.value)
    assert base_url + "train.csv" in message
    assert "download_mirror" in message
    assert "snakemake --config download_mirror=/path/to/mirror" in message
    assert not (tmp_path / "train.csv").exists()


# --- logging ------------------------------------------------------------------


def test_one_log_line_per_file(served_dir, server, tmp_path, caplog):
    remote = write_light_curve_file(served_dir, "lc.bin")
    absent = RemoteFile("absent.csv", "0" * 64, optional=True)
    fetch_dataset([remote], server.url, tmp_path)

    with caplog.at_level(logging.INFO, logger="varsky.download"):
        fetch_dataset([remote, absent], server.url, tmp_path)

    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 2
    assert lines[0].startswith(f"lc.bin: cached, {LIGHT_CURVE_BYTES} bytes, ")
    assert lines[1].startswith("absent.csv: missing, 0 bytes, ")
    assert all(line.endswith(" s") for line in lines)
