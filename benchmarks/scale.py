"""How varsky's cost grows with the number of stars, on simulated light curves.

For each size N this runs the workflow on the simulated dataset (SIMULATED
light curves, see varsky.simulate) up to the feature table (``--stage
features``) or up to the GP-resampled curves (``--stage gp``), in a scratch
folder, and prints

* wall time of the whole run and of the measured stage's jobs (s),
* light curves per second of that stage, per core (N divided by the summed
  wall seconds of its jobs), per CPU second (N divided by their summed CPU
  time: the fair measure on a machine shared with other work) and for the run
  as a whole,
* peak resident memory of any one job and of the stage's jobs (MB, from the
  rules' benchmark files),
* number of jobs,
* the time Snakemake takes to build the DAG of the finished run (a dry run).

Sizes given with ``--dag-only`` are not run: their ingest output is faked (empty
shard files, as many as the size needs) and only the DAG-building time of the
dry run over them is measured, which is what decides whether Snakemake copes
with a million stars.

Example (about 10 minutes on 2 cores)::

    python benchmarks/scale.py --sizes 1000 10000 --dag-only 100000 1000000

A cheaper period search per star (a 300-day survey, fewer shuffled trials) and
bounded scheduling rounds, for runs up to a million stars::

    python benchmarks/scale.py --sizes 10000 100000 1000000 --dag-only \\
        --n-epochs 100 --baseline-days 300 --set features.period.fap_trials=5 \\
        --scheduler-subsample 50
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
TARGETS = {
    "features": "results/simulated/features/features.parquet",
    "gp": "results/simulated/gp/resampled.npz",
}
"""Final file of each measurable stage."""
STAGE_JOBS = {"features": "features", "gp": "gp/fit"}
"""Benchmark folder (under results/simulated/benchmarks) of the stage's jobs."""


def write_config(workdir: Path, n_stars: int, args) -> None:
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config["datasets"] = ["simulated"]
    simulation = config["data"]["simulated"]["simulation"]
    simulation["n_stars"] = n_stars
    simulation["n_epochs"] = args.n_epochs
    if args.baseline_days is not None:
        simulation["baseline_days"] = args.baseline_days
    config["ingest"]["shard_size"] = args.shard_size
    for setting in args.set:
        key, _, value = setting.partition("=")
        *parents, leaf = key.split(".")
        section = config
        for name in parents:
            section = section[name]
        section[leaf] = yaml.safe_load(value)
    path = workdir / "config/config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def snakemake(workdir: Path, *args: str) -> tuple[float, str]:
    """Run Snakemake on the repository's Snakefile in ``workdir``; time it."""
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(workdir / "config/config.yaml"),
        *args,
    ]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"snakemake {' '.join(args)} failed:\n{result.stderr[-4000:]}")
    return seconds, result.stdout + result.stderr


def job_benchmarks(workdir: Path) -> dict[str, list[dict]]:
    """Rows of every benchmark file of the run, by rule folder or file name."""
    rows: dict[str, list[dict]] = {}
    folder = workdir / "results/simulated/benchmarks"
    for path in folder.rglob("*.tsv"):
        inside = path.parent.relative_to(folder).as_posix()
        rule = inside if path.parent != folder else path.stem
        with path.open() as handle:
            rows.setdefault(rule, []).extend(csv.DictReader(handle, delimiter="\t"))
    return rows


def fake_ingest(workdir: Path, n_stars: int, shard_size: int) -> int:
    """Write stand-ins for the download and ingest outputs; return the shards."""
    results = workdir / "results/simulated"
    manifest = results / "download/manifest.json"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps({"source": "simulated", "files": {}, "seed": 0}))
    time.sleep(0.01)  # outputs newer than inputs: nothing upstream reruns
    shards = results / "ingest/shards"
    shards.mkdir(parents=True, exist_ok=True)
    n_shards = -(-n_stars // shard_size)
    for k in range(n_shards):
        (shards / f"shard-{k:04d}.parquet").touch()
    (results / "ingest/labels.parquet").touch()
    return n_shards


def measure_run(workdir: Path, n_stars: int, args) -> dict:
    write_config(workdir, n_stars, args)
    target = TARGETS[args.stage]
    wall, log = snakemake(workdir, "--cores", str(args.cores), *scheduler(args), target)
    dag_s, _ = snakemake(workdir, "-n", target)
    rows = job_benchmarks(workdir)
    features = rows.get(STAGE_JOBS[args.stage], [])
    feature_s = sum(float(r["s"]) for r in features)
    feature_cpu_s = sum(float(r["cpu_time"]) for r in features)
    steps = [int(m) for m in _steps(log)]
    return {
        "stage": args.stage,
        "stars": n_stars,
        "jobs": max(steps) if steps else None,
        "wall_s": round(wall, 1),
        "ingest_s": round(sum(float(r["s"]) for r in rows.get("ingest", [])), 1),
        "stage_job_s": round(feature_s, 1),
        "lc_per_s_per_core": round(n_stars / feature_s, 1) if feature_s else None,
        "lc_per_cpu_s": round(n_stars / feature_cpu_s, 1) if feature_cpu_s else None,
        "lc_per_s_run": round(n_stars / wall, 1),
        "peak_job_mb": round(
            max(float(r["max_rss"]) for rs in rows.values() for r in rs), 1
        ),
        "peak_stage_job_mb": round(max(float(r["max_rss"]) for r in features), 1),
        "dag_s": round(dag_s, 1),
    }


def scheduler(args) -> list[str]:
    """Snakemake options that bound the cost of each scheduling round."""
    if args.scheduler_subsample is None:
        return []
    return ["--scheduler-subsample", str(args.scheduler_subsample)]


def _steps(log: str) -> list[str]:
    return re.findall(r"\d+ of (\d+) steps", log)


def measure_dag(workdir: Path, n_stars: int, args) -> dict:
    write_config(workdir, n_stars, args)
    n_shards = fake_ingest(workdir, n_stars, args.shard_size)
    dag_s, log = snakemake(workdir, "-n", TARGETS[args.stage])
    table = log.split("Job stats:", 1)[-1]
    total = [int(line.split()[1]) for line in table.splitlines() if "total" in line]
    return {
        "stars": n_stars,
        "shards": n_shards,
        "jobs": total[0] if total else None,
        "dag_s": round(dag_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[1000, 10_000])
    parser.add_argument("--dag-only", type=int, nargs="*", default=[1_000_000])
    parser.add_argument("--shard-size", type=int, default=1000)
    parser.add_argument("--n-epochs", type=int, default=300)
    # A shorter survey has a shorter frequency grid: a cheaper period search per
    # star, so that a million stars fit in an hour on 2 cores.
    parser.add_argument("--baseline-days", type=float, default=None)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key for every size, e.g. features.period.fap_trials=5",
    )
    # Each scheduling round stats the inputs of every ready job: with a thousand
    # shards that costs Snakemake's own process a large part of a core.
    parser.add_argument(
        "--scheduler-subsample",
        type=int,
        default=None,
        metavar="N",
        help="let each scheduling round consider at most N ready jobs",
    )
    parser.add_argument("--stage", choices=sorted(TARGETS), default="features")
    parser.add_argument("--workdir", type=Path, default=REPO / "results/benchmarks")
    args = parser.parse_args()

    for n_stars in args.sizes:
        result = measure_run(args.workdir / f"run-{n_stars}", n_stars, args)
        print(json.dumps({"mode": "run", **result}), flush=True)
    for n_stars in args.dag_only:
        result = measure_dag(args.workdir / f"dag-{n_stars}", n_stars, args)
        print(json.dumps({"mode": "dag_only", **result}), flush=True)


if __name__ == "__main__":
    main()
