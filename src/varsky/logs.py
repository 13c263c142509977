"""Logging for workflow jobs: one log file per job, errors also on the console."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_job_logging(log_path: str | Path, level: int = logging.INFO) -> None:
    """Send varsky's log records to ``log_path`` and to standard error.

    Uncaught exceptions are logged with their traceback before the job fails,
    so the rule's log file always says why it stopped.
    """
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    handlers = [logging.FileHandler(log_path, mode="w"), logging.StreamHandler()]
    logging.basicConfig(level=level, format=FORMAT, handlers=handlers, force=True)
    logging.captureWarnings(True)

    def log_uncaught(kind, value, traceback):
        logging.getLogger("varsky").critical(
            "job failed: %s", value, exc_info=(kind, value, traceback)
        )

    sys.excepthook = log_uncaught
    log_scheduler_job()


def log_scheduler_job() -> None:
    """Log the Slurm job this job runs in, if any, to tie the log to sacct/squeue."""
    job_id = os.environ.get("SLURM_JOB_ID")
    if job_id:
        logging.getLogger("varsky").info(
            "running in Slurm job %s on %s",
            job_id,
            os.environ.get("SLURMD_NODENAME", "an unnamed node"),
        )
