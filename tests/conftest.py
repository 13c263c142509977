"""Shared test fixtures: the real light curves in ../shared/data."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
EROS1 = DATA / "eros1"
EROS1_CLASSES = {1: "eclipsing_binary", 2: "cepheid", 3: "rr_lyrae", 4: "mira"}


@pytest.fixture(scope="session")
def eros1_dir() -> Path:
    if not (EROS1 / "train.csv").exists():
        pytest.skip(f"the EROS-1 sample is not at {EROS1}")
    return EROS1
