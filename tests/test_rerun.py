"""What a rerun runs, read from Snakemake's own dry run on a small EROS-1 run.

One finished run of a copy of the workflow is shared by the tests; each test
changes one thing, reads the jobs a dry run would start, and puts it back.
"""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from workflow_run import (
    EROS1,
    REPO,
    copy_workflow,
    jobs_to_run,
    small_eros1_config,
    snakemake,
    write_config,
)

pytestmark = pytest.mark.slow

# Upstream of the feature table: a change to features or later must not rerun it.
UPSTREAM_OF_FEATURES = {"download", "ingest", "clean", "clean_summary"}
# The provenance page records the config as run, so any config change redoes it.
ALWAYS = {"all", "provenance"}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A copy of the workflow and a working folder where it has run to the end."""
    if not (EROS1 / "train.csv").exists():
        pytest.skip(f"the EROS-1 sample is not at {EROS1}")
    root = tmp_path_factory.mktemp("rerun")
    workflow = copy_workflow(root / "workflow")
    workdir = root / "run"
    overrides = small_eros1_config(max_stars=60, shard_size=30)
    write_config(workdir, overrides)
    snakemake(workdir, "--cores", "2", workflow=workflow)
    return workflow, workdir, overrides


def dry_run(finished, overrides=None):
    workflow, workdir, base = finished
    write_config(workdir, base if overrides is None else overrides)
    try:
        return jobs_to_run(workdir, workflow=workflow)
    finally:
        write_config(workdir, base)


def test_no_change_runs_nothing(finished):
    assert dry_run(finished) == {}


def test_changed_figure_parameter_reruns_only_figures(finished):
    base = finished[2]
    jobs = dry_run(finished, {**base, "figures": {"dpi": 80}})
    assert jobs["plot_examples"] == 2 and jobs["plot_confusion_matrix"] == 1
    assert {j for j in jobs if not j.startswith("plot_")} == ALWAYS


def test_changed_font_size_redraws_every_figure_and_nothing_else(finished):
    base = finished[2]
    figures = {**base["figures"], "font_size": 11}
    jobs = dry_run(finished, {**base, "figures": figures})
    assert {j for j in jobs if not j.startswith("plot_")} == ALWAYS
    # Twenty figures: two example views, two embedding maps, two primers and
    # one of each of the other fourteen figure rules.
    assert sum(n for j, n in jobs.items() if j.startswith("plot_")) == 20


def test_changed_feature_parameter_reruns_features_and_downstream(finished):
    base = finished[2]
    jobs = dry_run(finished, {**base, "features": {"min_points": 25}})
    # Two shards of 30 stars each; clean and ingest are upstream and untouched.
    assert jobs["features"] == 2 and jobs["gp_fit"] == 2
    assert jobs["gather_features"] == 1 and jobs["classify"] == 1
    assert not UPSTREAM_OF_FEATURES & set(jobs)
    # The GRU reads the cleaned light curves, not the features.
    assert "classify_rnn" not in jobs


def test_changed_clean_parameter_reruns_clean_and_downstream(finished):
    base = finished[2]
    jobs = dry_run(finished, {**base, "clean": {"sigma_clip": 4.0}})
    assert jobs["clean"] == 2 and jobs["clean_summary"] == 1
    assert jobs["features"] == 2 and jobs["classify_rnn"] == 1
    assert not {"download", "ingest"} & set(jobs)


def test_changed_script_reruns_its_rule(finished):
    workflow, workdir, _ = finished
    script = workflow / "scripts" / "plot_confusion_matrix.py"
    original, stat = script.read_text(), script.stat()
    script.write_text(original + "# the figure is drawn for the test split only\n")
    try:
        jobs = jobs_to_run(workdir, workflow=workflow)
    finally:
        # Snakemake tells a changed script by its modification time.
        script.write_text(original)
        os.utime(script, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    # The provenance page lists every output, so it follows the figure.
    assert jobs == {"plot_confusion_matrix": 1, "provenance": 1, "all": 1}
    assert jobs_to_run(workdir, workflow=workflow) == {}


def test_killed_run_resumes_from_finished_shards(tmp_path):
    """SIGKILL the whole run in the middle of the features stage, then rerun."""
    if not (EROS1 / "train.csv").exists():
        pytest.skip(f"the EROS-1 sample is not at {EROS1}")
    write_config(tmp_path, small_eros1_config(max_stars=80, shard_size=8))
    labels = "results/eros1/ingest/labels.parquet"
    table = "results/eros1/features/features.parquet"
    snakemake(tmp_path, "--cores", "1", labels)
    shard_dir = tmp_path / "results/eros1/features/shards"

    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-s",
            str(REPO / "Snakefile"),
            "--directory",
            str(tmp_path),
            "--configfile",
            str(tmp_path / "config/config.yaml"),
            "--cores",
            "1",
            table,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    try:
        while len(list(shard_dir.glob("shard-*.parquet"))) < 3:
            assert run.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no features shard appeared in time"
            time.sleep(0.05)
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()

    done = {p.stem for p in shard_dir.glob("shard-*.parquet")}
    assert 3 <= len(done) < 10, f"kill came too late: {sorted(done)}"
    for name in done:  # every output under its final name is whole
        assert pq.read_table(shard_dir / f"{name}.parquet").num_rows == 8

    # The dry run of the restart plans exactly the shards that are missing,
    # plus at most the one whose job was killed after its rename but before
    # Snakemake recorded it as finished.
    dry = snakemake(tmp_path, "-n", "--rerun-incomplete", table)
    planned = planned_shards(dry.stdout + dry.stderr, "features")
    missing = {f"shard-{i:04d}" for i in range(10)} - done
    assert missing <= planned
    assert len(planned - missing) <= 1

    # A killed Snakemake cannot release its lock on the folder; --unlock does.
    kept = {n: (shard_dir / f"{n}.parquet").stat().st_mtime_ns for n in done}
    snakemake(tmp_path, "--unlock", table)
    snakemake(tmp_path, "--cores", "2", "--rerun-incomplete", table)
    reused = [n for n in done - planned if kept[n] == _mtime(shard_dir, n)]
    assert sorted(reused) == sorted(done - planned)
    assert pq.read_table(tmp_path / table).num_rows == 80
    assert not list((tmp_path / "results").rglob(".*.tmp*")), "temporary files left"


def _mtime(folder: Path, name: str) -> int:
    return (folder / f"{name}.parquet").stat().st_mtime_ns


def planned_shards(dry_run_output: str, rule: str) -> set[str]:
    """Shards of the jobs of ``rule`` listed in a dry run's output."""
    return {
        match.group(1)
        for block in job_blocks(dry_run_output, rule)
        if (match := re.search(r"shard=(shard-\d+)", block))
    }


def test_shard_jobs_ask_for_resources_scaled_by_shard_size(finished):
    workflow, workdir, base = finished
    # 30 stars a shard: 500 MB + 300 MB per 1000 stars, 5 min + 3 min per 1000.
    expected = {"mem_mb": 509, "runtime": 6}
    scaled = {**base, "resources": {"mem_scale": 2.0}}
    for overrides, want in ((base, expected), (scaled, {**expected, "mem_mb": 1018})):
        write_config(workdir, overrides)
        try:
            result = snakemake(
                workdir, "-n", "--forcerun", "features", workflow=workflow
            )
        finally:
            write_config(workdir, base)
        blocks = job_blocks(result.stdout + result.stderr, "features")
        assert len(blocks) == 2
        for block in blocks:
            asked = dict(re.findall(r"\b(mem_mb|runtime)=(\d+)", block))
            assert {k: int(v) for k, v in asked.items()} == want


def job_blocks(dry_run_output: str, rule: str) -> list[str]:
    """The text of each job of ``rule`` in a dry run's output."""
    blocks = re.split(r"^(?:local)?rule ", dry_run_output, flags=re.MULTILINE)
    return [block for block in blocks if block.startswith(f"{rule}:")]
