"""Speed and memory of the multi-band period search on EROS-1 light curves.

Usage: python benchmarks/multiband_speed.py [N_STARS] [DATA_DIR]

Prints light curves per second (CPU and wall clock) of
:func:`varsky.multiband.multiband_shard` on the first N_STARS EROS-1 stars
(default 300) with the default ``multiband`` configuration, and the peak
resident memory of the process.
"""

import itertools
import resource
import sys
import time
from pathlib import Path

import pandas as pd

from varsky import io
from varsky.multiband import multiband_params, multiband_shard

n_stars = int(sys.argv[1]) if len(sys.argv) > 1 else 300
data = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("../shared/data/eros1")

stars = io.iter_ramp_stars(data / "train.csv", data / "train_varlength_features.csv.gz")
rows = [frame for _, frame in itertools.islice(stars, n_stars)]
lightcurves = io.to_tidy(pd.concat(rows, ignore_index=True))
lightcurves = lightcurves[lightcurves["mag"] < 24.9]

wall, cpu = time.perf_counter(), time.process_time()
table = multiband_shard(lightcurves, multiband_params({}))
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu

peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"stars: {len(table)}, observations: {len(lightcurves)}")
rate_cpu, rate_wall = len(table) / cpu, len(table) / wall
print(f"light curves per second: {rate_cpu:.1f} (CPU), {rate_wall:.1f} (wall)")
print(f"projected CPU time for 2912 stars: {2912 * cpu / len(table):.0f} s")
print(f"peak memory: {peak_mib:.0f} MiB")
