import json
import subprocess

import pytest

from varsky import provenance


def test_git_commit_marks_local_changes(tmp_path):
    def git(*args):
        subprocess.run(
            ["git", "-C", str(tmp_path), *args], check=True, capture_output=True
        )

    git("init", "-q")
    (tmp_path / "a.txt").write_text("1")
    git("add", "a.txt")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    head = subprocess.run(
        ["git", "-C", str(tmp_path), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert provenance.git_commit(tmp_path) == head
    (tmp_path / "a.txt").write_text("2")
    assert provenance.git_commit(tmp_path) == head + "+dirty"


def test_git_commit_outside_a_checkout(tmp_path):
    assert provenance.git_commit(tmp_path).startswith("unknown")


def test_data_files_and_runtimes(tmp_path):
    manifest = tmp_path / "manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "source": "file:///m/",
                "files": {
                    "a.csv": {"status": "cached", "sha256": "ab" * 32, "bytes": 5},
                    "b.csv": {"status": "missing", "sha256": None, "bytes": 0},
                },
            }
        )
    )
    rows = provenance.data_files({"d": manifest})
    assert [(r["file"], r["status"], r["sha256"]) for r in rows] == [
        ("a.csv", "cached", "ab" * 32),
        ("b.csv", "missing", ""),
    ]

    bench = tmp_path / "results" / "d" / "benchmarks" / "features" / "shard-0000.tsv"
    bench.parent.mkdir(parents=True)
    bench.write_text("s\th:m:s\tmax_rss\n12.5\t0:00:12\t300.0\n13.5\t0:00:13\t310.0\n")
    runtimes = provenance.rule_runtimes([bench], tmp_path / "results")
    assert runtimes.to_dict("records") == [
        {"job": "d features/shard-0000", "seconds": 13.0, "max_rss_mb": 305.0}
    ]

    record = {
        "varsky_version": "9.9",
        "git_commit": "abc",
        "seed": 7,
        "packages": {"numpy": "2.0"},
        "data_files": rows,
        "config": {"seed": 7},
    }
    page = provenance.render_html(record, runtimes)
    assert "ab" * 32 in page and "d features/shard-0000" in page
    assert "seed: 7" in page


@pytest.mark.parametrize("name", ["numpy", "no-such-package-varsky"])
def test_package_versions(name):
    version = provenance.package_versions([name])[name]
    assert (version == "not installed") == (name == "no-such-package-varsky")
