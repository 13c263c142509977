"""Gaia DR3 labels and epoch photometry, against a local stand-in archive.

A server on 127.0.0.1 answers like the Gaia archive with the files in
tests/data/gaia (VOTable BINARY2 and CSV, the archive's column names and
types): three classified sources, 0.3", 0.5" and 5" from three stars.
"""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd
import pytest

from varsky import gaia

RESPONSES = Path(__file__).parent / "data" / "gaia"
STARS = pd.DataFrame(
    {
        "source_id": ["A", "B", "C", "D"],
        "ra": [266.5, 259.17, 198.83, np.nan],
        "dec": [-38.5, -39.3, -64.38, np.nan],
    }
)
CLASS_MAP = {"RR": "rr_lyrae", "ECL": "eclipsing_binary", "LPV": "mira"}


class StandIn(BaseHTTPRequestHandler):
    """Replays the recorded answer chosen by ``self.server.answers``."""

    def do_POST(self):
        length = int(self.headers["Content-Length"])
        form = parse_qs(self.rfile.read(length).decode())
        self.server.requests.append(form)
        fmt = form["FORMAT"][0]
        name = self.server.answers.get(
            fmt, f"cone.{'vot' if fmt == 'votable' else fmt}"
        )
        self._reply(RESPONSES / name)

    def do_GET(self):
        self.server.requests.append(parse_qs(urlparse(self.path).query))
        self._reply(RESPONSES / "epoch_photometry.csv")

    def _reply(self, path: Path):
        body = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    httpd.requests, httpd.answers = [], {}
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def archive_at(server, tmp_path) -> gaia.Archive:
    host, port = server.server_address
    return gaia.Archive(
        f"http://{host}:{port}/tap",
        f"http://{host}:{port}/data-server/data",
        tmp_path / "gaia",
        timeout_s=5,
        retries=0,
    )


@pytest.mark.parametrize("fmt", ["votable", "csv"])
def test_cone_match_keeps_the_nearest_source_within_the_radius(server, tmp_path, fmt):
    matches, failures = gaia.match_by_position(
        STARS, archive_at(server, tmp_path), radius_arcsec=1.0, batch_size=10, fmt=fmt
    )
    matches = matches.set_index("source_id")

    assert failures == []
    assert sorted(matches.index) == ["A", "B"]  # C's source is 5" away, D unplaced
    assert matches.loc["A", "gaia_source_id"] == 4056430040389011968
    assert matches.loc["A", "best_class_name"] == "RR"
    assert matches.loc["A", "separation_arcsec"] == pytest.approx(0.3, abs=1e-3)
    assert matches.loc["B", "separation_arcsec"] == pytest.approx(0.5, abs=1e-3)
    query = server.requests[0]["QUERY"][0]
    assert query.count("CIRCLE('ICRS'") == 3
    assert "gaiadr3.vari_classifier_result" in query


def test_labels_follow_the_class_map_and_the_score_threshold(server, tmp_path):
    matches, _ = gaia.match_by_position(
        STARS, archive_at(server, tmp_path), radius_arcsec=1.0, batch_size=2, fmt="csv"
    )
    labels = STARS.assign(class_name=np.nan, split="unlabelled")
    labelled = gaia.gaia_labels(labels, matches, CLASS_MAP, min_class_score=0.5)
    labelled = labelled.set_index("source_id")

    assert labelled.loc["A", "class_name"] == "rr_lyrae"
    assert labelled.loc["A", "use_for_training"]
    assert labelled.loc["B", "class_name"] == "eclipsing_binary"
    assert not labelled.loc["B", "use_for_training"]  # score 0.32 < 0.5
    assert labelled.loc["B", "split"] == "unlabelled"
    assert np.isnan(labelled.loc["C", "best_class_score"])
    assert len(server.requests) == 2  # two batches of two placed stars


def test_answers_are_cached_by_checksum(server, tmp_path):
    archive = archive_at(server, tmp_path)
    gaia.match_by_position(STARS, archive, radius_arcsec=1.0, batch_size=10, fmt="csv")
    again = archive_at(server, tmp_path)
    gaia.match_by_position(STARS, again, radius_arcsec=1.0, batch_size=10, fmt="csv")
    assert len(server.requests) == 1

    (saved,) = (tmp_path / "gaia" / "responses").glob("*.csv")
    saved.write_text("tampered")
    third = archive_at(server, tmp_path)
    gaia.match_by_position(STARS, third, radius_arcsec=1.0, batch_size=10, fmt="csv")
    assert len(server.requests) == 2
    assert saved.read_bytes() == (RESPONSES / "cone.csv").read_bytes()


@pytest.mark.parametrize(
    ("fmt", "answer", "message"),
    [
        ("votable", "error.vot", "the archive answered an error: Cannot parse query"),
        ("csv", "truncated.csv", "malformed CSV"),
        ("csv", "epoch_photometry.csv", "missing columns ['best_class_name'"),
    ],
)
def test_a_bad_answer_fails_its_batch_only(server, tmp_path, fmt, answer, message):
    server.answers[fmt] = answer
    matches, failures = gaia.match_by_position(
        STARS, archive_at(server, tmp_path), radius_arcsec=1.0, batch_size=2, fmt=fmt
    )
    assert len(failures) == 2
    assert message in failures[0]
    assert ".csv" in failures[0] or ".votable" in failures[0]
    assert matches.empty


def test_match_by_gaia_id_asks_for_the_ids(server, tmp_path):
    stars = pd.DataFrame({"source_id": ["A"], "gaia_source_id": [4056430040389011968]})
    matches, _ = gaia.match_by_id(
        stars, archive_at(server, tmp_path), batch_size=10, fmt="votable"
    )
    assert "IN (4056430040389011968)" in server.requests[0]["QUERY"][0]
    assert matches.loc[0, "best_class_name"] == "RR"
    assert matches.loc[0, "best_class_score"] == pytest.approx(0.91, rel=1e-6)


def test_epoch_photometry_becomes_tidy_light_curves(server, tmp_path):
    lc, failures = gaia.fetch_epoch_photometry(
        [4056430040389011968], archive_at(server, tmp_path), batch_size=10, fmt="csv"
    )
    assert failures == []
    assert server.requests[0]["RETRIEVAL_TYPE"] == ["EPOCH_PHOTOMETRY"]
    g = lc[lc["band"] == "G"].reset_index(drop=True)
    assert list(g["time"]) == pytest.approx([56897.25, 56927.5, 56957.75])
    # σ_m = 2.5 / ln 10 / (flux / σ_flux): 1.0857 / 600 for the first G epoch.
    assert g.loc[0, "mag_err"] == pytest.approx(2.5 / np.log(10) / 600.0)
    assert list(g["flags"]) == [0, 0, gaia.REJECTED_BY_VARIABILITY]
    assert sorted(lc["band"].unique()) == ["BP", "G", "RP"]


def test_training_labels_keep_confident_stars_with_a_stratified_test_split():
    n = 20
    labelled = pd.DataFrame(
        {
            "source_id": [f"s{i}" for i in range(2 * n + 1)],
            "class_name": ["rr_lyrae"] * n + ["mira"] * n + [np.nan],
            "reference_period": np.nan,
            "use_for_training": [True] * (2 * n - 1) + [False, False],
            "gaia_source_id": np.arange(2 * n + 1),
            "best_class_score": 0.9,
        }
    )
    labels = gaia.training_labels(labelled, holdout_fraction=0.25, seed=0)

    assert len(labels) == 2 * n - 1
    test = labels[labels["split"] == "test"]["class_name"].value_counts()
    assert test.to_dict() == {"rr_lyrae": 5, "mira": 5}
    assert "s39" not in set(labels["source_id"])  # below the score threshold
