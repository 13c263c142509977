"""Throughput and memory of varsky's features and period search on EROS-1.

Usage::

    python benchmarks/bench_features.py --data /work/shared/data/eros1 --stars 500

Prints, side by side with the ``light_curve`` package on the same light
curves, the light curves (one star in one band) per second per core for

* the per-band features that need no period (varsky: all of
  ``varsky.features.FEATURES``, vectorised over the light curves as
  ``extract_features`` computes them; light_curve: its extractor of the
  features defined the same way),
* the Lomb-Scargle periodogram on the grid of ``varsky.period.frequency_grid``
  (varsky's transform, nifty-ls on the identical grid, light_curve's fast
  periodogram on the power-of-two grid with the same range and a step at
  least as fine),
* varsky's whole period search (periodogram, phase dispersion, conditional
  entropy, false-alarm probabilities) and ``extract_features`` end to end,

and the peak memory of each step. "Per core" divides by the process CPU time,
with every library held to one thread.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import logging  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from varsky import features as ft  # noqa: E402
from varsky import period as ps  # noqa: E402
from varsky.io import parse_list_cell  # noqa: E402

log = logging.getLogger("bench_features")

SHARED_WITH_LIGHT_CURVE = {
    "mean": "Mean",
    "median": "Median",
    "std": "StandardDeviation",
    "skewness": "Skew",
    "kurtosis": "Kurtosis",
    "weighted_mean": "WeightedMean",
    "median_absolute_deviation": "MedianAbsoluteDeviation",
    "amplitude": "Amplitude",
    "percent_amplitude": "PercentAmplitude",
    "cusum": "Cusum",
    "mean_variance": "MeanVariance",
    "roms": "Roms",
    "anderson_darling": "AndersonDarlingNormal",
    "excess_variance": "ExcessVariance",
    "stetson_k": "StetsonK",
    "von_neumann_eta": "Eta",
    "eta_e": "EtaE",
    "maximum_slope": "MaximumSlope",
}


def read_eros(folder: Path, n_stars: int) -> list[tuple[str, str, tuple]]:
    """``(star, band, (time, mag, mag_err))`` of the first ``n_stars`` stars.

    Placeholder magnitudes (≥ 24.9), errors ≤ 0 or > 1 mag and repeated
    times are dropped, as the survey README advises.
    """
    table = pd.read_csv(folder / "train_varlength_features.csv.gz", index_col=0)
    curves = []
    for star, row in table.head(n_stars).iterrows():
        for band in "br":
            t, m, e = (
                parse_list_cell(row[f"{kind}_points_{band}"], where=f"{star} {kind}")
                for kind in ("time", "light", "error")
            )
            keep = (m < 24.9) & (e > 0) & (e <= 1)
            t, m, e = t[keep], m[keep], e[keep]
            order = np.argsort(t, kind="stable")
            t, m, e = t[order], m[order], e[order]
            first = np.concatenate([[True], np.diff(t) > 0])
            if first.sum() >= 20:
                curves.append((str(star), band.upper(), (t[first], m[first], e[first])))
    return curves


def measure(step, repeat_memory: int) -> dict[str, float]:
    """CPU and wall seconds of ``step()``, then its traced peak memory (MiB).

    Memory is traced in a second, shorter run of ``step(repeat_memory)`` so
    that tracing does not slow the timed run.
    """
    cpu, wall = time.process_time(), time.perf_counter()
    count = step(None)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    tracemalloc.start()
    step(repeat_memory)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return {"count": count, "cpu_s": cpu, "wall_s": wall, "peak_mib": peak}


def bench_varsky_features(curves, params):
    def step(limit):
        part = [c for _, _, c in curves[:limit]]
        segments = ft.Segments(
            np.concatenate([t for t, _, _ in part]),
            np.concatenate([m for _, m, _ in part]),
            np.concatenate([e for _, _, e in part]),
            np.cumsum([0] + [t.size for t, _, _ in part[:-1]]),
        )
        ft.batch_features(segments, params)
        return len(part)

    return step


def bench_light_curve_features(curves):
    import light_curve as lc

    extractor = lc.Extractor(
        *(getattr(lc, name)() for name in SHARED_WITH_LIGHT_CURVE.values()),
        lc.InterPercentileRange(quantile=0.05),
        lc.MedianBufferRangePercentage(quantile=0.1),
    )

    def step(limit):
        for _, _, (t, m, e) in curves[:limit]:
            extractor(t, m, e)
        return len(curves[:limit])

    return step


def bench_periodogram(curves, period, backend):
    power = ps.LOMB_SCARGLE_BACKENDS[backend]

    def step(limit):
        for _, _, (t, m, e) in curves[:limit]:
            t = t - t[0]
            power(t, m, e, ps.frequency_grid(t[-1], period))
        return len(curves[:limit])

    return step


def bench_light_curve_periodogram(curves, period):
    import light_curve as lc

    def step(limit):
        for _, _, (t, m, e) in curves[:limit]:
            grid = ps.frequency_grid(t[-1] - t[0], period)
            size = 2 ** int(np.ceil(np.log2(grid.f_max / grid.df)))
            angular = 2 * np.pi * np.linspace(0.0, grid.f_max, size + 1)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                feature = lc.Periodogram(peaks=3, freqs=angular, fast=True)
            feature(t, m, e)
        return len(curves[:limit])

    return step


def bench_search(curves, period):
    def step(limit):
        rng = np.random.default_rng(int(period["seed"]))
        for _, _, (t, m, e) in curves[:limit]:
            ps.search_band(t, m, e, period, rng)
        return len(curves[:limit])

    return step


def bench_extract(curves, params):
    rows = [
        pd.DataFrame(
            {"source_id": s, "band": b, "time": t, "mag": m, "mag_err": e, "flags": 0}
        )
        for s, b, (t, m, e) in curves
    ]
    table = pd.concat(rows, ignore_index=True)
    table["flags"] = table["flags"].astype("int32")
    stars = table["source_id"].unique()

    def step(limit):
        part = table if limit is None else table[table["source_id"].isin(stars[:limit])]
        ft.extract_features(part, params)
        return sum(1 for s, _, _ in curves if limit is None or s in set(stars[:limit]))

    return step


def report(rows: dict[str, dict[str, float]]) -> None:
    """One line per step: light curves per CPU second, per wall second, memory."""
    log.info("%-44s %10s %10s %10s", "step", "LC/s/core", "LC/s wall", "peak MiB")
    for name, row in rows.items():
        log.info(
            "%-44s %10.1f %10.1f %10.1f",
            name,
            row["count"] / row["cpu_s"],
            row["count"] / row["wall_s"],
            row["peak_mib"],
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/eros1"))
    parser.add_argument("--stars", type=int, default=500)
    parser.add_argument("--memory-stars", type=int, default=50)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    curves = read_eros(args.data, args.stars)
    params = ft.feature_params({})
    period = params["period"]
    grid = ps.frequency_grid(
        np.median([c[2][0][-1] - c[2][0][0] for c in curves]), period
    )
    log.info(
        "%d light curves of %d stars; median grid %d frequencies (%.3g-%.3g per day)",
        len(curves),
        args.stars,
        grid.n,
        grid.f_min,
        grid.f_max,
    )
    lightcurve_memory = 2 * args.memory_stars

    for step in (bench_periodogram(curves, period, "finufft"),):
        step(4)  # warm-up: plans and imports are not the subject

    rows = {
        "features, varsky (26 features)": measure(
            bench_varsky_features(curves, params), lightcurve_memory
        ),
        "features, light_curve (20 shared features)": measure(
            bench_light_curve_features(curves), lightcurve_memory
        ),
        "Lomb-Scargle, varsky finufft": measure(
            bench_periodogram(curves, period, "finufft"), lightcurve_memory
        ),
        "Lomb-Scargle, nifty-ls, same grid": measure(
            bench_periodogram(curves, period, "nifty_ls"), lightcurve_memory
        ),
        "Lomb-Scargle, light_curve fast, 2^k grid": measure(
            bench_light_curve_periodogram(curves, period), lightcurve_memory
        ),
        "period search, varsky (LS + PDM + CE + FAP)": measure(
            bench_search(curves, period), lightcurve_memory
        ),
        "extract_features, varsky, end to end": measure(
            bench_extract(curves, params), args.memory_stars
        ),
    }
    report(rows)
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    log.info("process peak resident memory: %.0f MiB", max_rss)


if __name__ == "__main__":
    main()
