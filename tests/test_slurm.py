"""The workflow through a real Slurm cluster, with profiles/slurm.

The fixture starts a one-node cluster on this machine (munged, slurmctld and
slurmd from Debian's ``slurm-wlm`` and ``munge``; no accounting database, so
the executor queries job states with ``squeue``). It needs root and the
packages installed (``.ci/run`` installs them); anywhere else the test is
skipped with the reason.
"""

import contextlib
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from workflow_run import EROS1, REPO, small_eros1_config, snakemake, write_config

pytestmark = pytest.mark.slow

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo")

# Commands inside a job (the executor's srun) read Slurm's default config path,
# not $SLURM_CONF, which the job-step executor removes; the fixture writes this
# file there only where none exists, and removes it again.
DEFAULT_CONF = Path("/etc/slurm/slurm.conf")
MARK = "# Written by varsky's tests/test_slurm.py for a one-node test cluster.\n"

SLURM_CONF = """\
ClusterName=varsky-test
SlurmctldHost={host}
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={root}/munge.socket
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
MinJobAge=3600
NodeName={host} CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def why_no_slurm() -> str | None:
    """The reason a cluster cannot be started here, or None."""
    if os.geteuid() != 0:
        return "starting munged, slurmctld and slurmd needs root"
    missing = [d for d in DAEMONS if shutil.which(d) is None]
    if missing:
        return (
            f"{', '.join(missing)} not found: install Debian's slurm-wlm and munge "
            "(apt-get install slurm-wlm munge, as .ci/run does)"
        )
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        return "snakemake-executor-plugin-slurm is not installed (pip install .[test])"
    if not (EROS1 / "train.csv").exists():
        return f"the EROS-1 sample is not at {EROS1}"
    if DEFAULT_CONF.exists() and not DEFAULT_CONF.read_text().startswith(MARK):
        return f"{DEFAULT_CONF} configures a real cluster here; not replacing it"
    return None


def start(command: list[str], env: dict, root: Path) -> None:
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"{command[0]} did not start: {result.stderr.strip()[-500:]}")


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """Environment variables that point Slurm's commands at a fresh cluster."""
    reason = why_no_slurm()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("slurm")
    for folder in ("state", "spool"):
        (root / folder).mkdir()
    host = socket.gethostname().split(".")[0]
    memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    conf = DEFAULT_CONF
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(
        MARK
        + SLURM_CONF.format(
            host=host,
            root=root,
            ctld_port=free_port(),
            slurmd_port=free_port(),
            cpus=os.cpu_count(),
            memory_mb=int(memory_mb * 0.8),
        )
    )
    key = root / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    env = {**os.environ, "SLURM_CONF": str(conf)}

    try:
        start(
            [
                "munged",
                "--force",
                f"--key-file={key}",
                f"--socket={root}/munge.socket",
                f"--pid-file={root}/munged.pid",
                f"--log-file={root}/munged.log",
                f"--seed-file={root}/munged.seed",
            ],
            env,
            root,
        )
        start(["slurmctld"], env, root)
        start(["slurmd"], env, root)
        wait_for_idle_node(env, root)
        yield env
    finally:
        for daemon in ("slurmd", "slurmctld", "munged"):
            stop(root / f"{daemon}.pid")
        conf.unlink(missing_ok=True)


def wait_for_idle_node(env: dict, root: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = subprocess.run(
            ["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True
        ).stdout.strip()
        if state == "idle":
            return
        time.sleep(1)
    logs = "".join(
        p.read_text()[-800:] for p in sorted(root.glob("*.log")) if p.exists()
    )
    pytest.skip(f"the Slurm node did not become idle in {timeout_s} s:\n{logs}")


def stop(pid_file: Path) -> None:
    """End a daemon this fixture started, by the id in its pid file."""
    if pid_file.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid_file.read_text().split()[0]), 15)


TARGETS = (
    "results/eros1/features/features.parquet",
    "results/eros1/clean/rejected.csv",
    "results/eros1/ingest/labels.parquet",
)


def test_workflow_through_slurm_equals_local_run(slurm, tmp_path):
    overrides = small_eros1_config(max_stars=60, shard_size=20)
    local, cluster = tmp_path / "local", tmp_path / "slurm"
    write_config(local, overrides)
    write_config(cluster, overrides)

    snakemake(local, "--cores", "2", *TARGETS)
    run = snakemake(
        cluster,
        "--profile",
        str(REPO / "profiles" / "slurm"),
        # No accounting database on the test cluster: ask squeue, charge no one.
        "--slurm-status-command",
        "squeue",
        "--slurm-no-account",
        "--slurm-init-seconds-before-status-checks",
        "1",
        "--latency-wait",
        "5",
        # Grouped jobs must fit the test node's CPUs.
        "--cores",
        str(os.cpu_count()),
        *TARGETS,
        env=slurm,
    )
    output = run.stdout + run.stderr

    # Each job ran inside Slurm: its log names the Slurm job, which Snakemake
    # reported as submitted. Download is a local rule and runs here.
    submitted = set(re.findall(r"SLURM jobid (\d+)", output))
    assert submitted, f"no job was submitted to Slurm:\n{output[-3000:]}"
    job_logs = [p for p in (cluster / "logs").rglob("*.log") if p.stem != "download"]
    assert {p.stem for p in job_logs} >= {"ingest", "shard-0000", "gather_features"}
    for log in job_logs:
        ran_in = re.findall(r"running in Slurm job (\d+)", log.read_text())
        assert ran_in and set(ran_in) <= submitted, f"{log} did not run in Slurm"
    # Three shards of clean + features ran as one grouped Slurm job.
    shard_jobs = {
        re.search(r"Slurm job (\d+)", p.read_text()).group(1)
        for p in job_logs
        if p.stem.startswith("shard-")
    }
    assert len(shard_jobs) == 1

    for target in TARGETS:
        if target.endswith(".parquet"):
            pd.testing.assert_frame_equal(
                pd.read_parquet(local / target), pd.read_parquet(cluster / target)
            )
        else:
            assert (local / target).read_text() == (cluster / target).read_text()
