"""Speed and memory of the survey readers on the shared samples.

Reads the VIRAC2 CSV tree, the VIRAC2 FITS table and the Catalina folder
``--repeat`` times each (the samples are small), and prints light curves per
second, epochs per second and the peak memory of the process.

    PYTHONPATH=src python benchmarks/bench_surveys.py --repeat 20
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

from varsky.surveys import read_crts, read_virac2

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CASES = {
    "virac2 CSV tree": (read_virac2, DATA / "virac2", {"lightcurves": "light_curves"}),
    "virac2 FITS table": (
        read_virac2,
        DATA / "virac2",
        {"lightcurves": "reclass_LC.fits"},
    ),
    "crts CSV files": (
        read_crts,
        DATA / "crts",
        {"bands": ["V"], "class_from_filename": False},
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10, help="reads of each sample")
    args = parser.parse_args()

    for name, (reader, folder, spec) in CASES.items():
        started = time.perf_counter()
        for _ in range(args.repeat):
            lightcurves, labels = reader(folder, {}, spec)
        seconds = time.perf_counter() - started
        print(
            f"{name:18s} {len(labels) * args.repeat / seconds:8.1f} light curves/s "
            f"{len(lightcurves) * args.repeat / seconds:10.0f} epochs/s "
            f"({len(labels)} stars, {len(lightcurves)} epochs, {args.repeat} reads)"
        )
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
