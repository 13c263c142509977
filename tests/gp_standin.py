"""A stand-in for the GP stage's ``resampled.npz``, built without a GP.

The embedding stage reads the phase-folded curves that the GP stage resamples
onto a regular phase grid. Tests and benchmarks need that file without running
the GP fits, so this helper produces one with the same layout: each band is
folded at the star's period, the normalised magnitudes are averaged in phase
bins and empty bins are filled by linear interpolation around the circle. The
``std`` array holds the standard error of each bin's mean (its median where a
bin is empty). This is a test input, not a science product.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd


def fold_to_grid(
    time: np.ndarray, mag: np.ndarray, mag_err: np.ndarray, period: float, n_phase: int
) -> tuple[np.ndarray, np.ndarray]:
    """Binned mean and its standard error of one folded band on ``n_phase`` bins."""
    phase = np.mod(time - time.min(), period) / period
    bins = np.minimum((phase * n_phase).astype(int), n_phase - 1)
    weights = 1.0 / np.maximum(mag_err, 1e-3) ** 2
    total = np.bincount(bins, weights, minlength=n_phase)
    weighted = np.bincount(bins, weights * mag, minlength=n_phase)
    filled = total > 0
    grid = (np.arange(n_phase) + 0.5) / n_phase
    mean = np.full(n_phase, np.nan)
    mean[filled] = weighted[filled] / total[filled]
    std = np.full(n_phase, np.nan)
    std[filled] = 1.0 / np.sqrt(total[filled])
    # Fill empty bins by interpolating around the circle (period 1 in phase).
    mean = np.interp(grid, grid[filled], mean[filled], period=1.0)
    std[~filled] = np.median(std[filled])
    return mean, std


def make_standin(
    lightcurves: pd.DataFrame,
    periods: Mapping[str, float],
    bands: list[str],
    n_phase: int = 128,
    min_points: int = 10,
) -> dict[str, np.ndarray]:
    """Arrays of ``resampled.npz`` for the stars of ``lightcurves``.

    ``normalised = (mag - offset) / scale`` with the band's median as offset
    and its standard deviation as scale.
    """
    ids = sorted(set(lightcurves["source_id"]) & set(periods))
    n, nb = len(ids), len(bands)
    mean = np.full((n, nb, n_phase), np.nan, dtype=np.float32)
    std = np.full((n, nb, n_phase), np.nan, dtype=np.float32)
    offset = np.full((n, nb), np.nan)
    scale = np.full((n, nb), np.nan)
    ok = np.zeros((n, nb), dtype=bool)
    by_star = dict(tuple(lightcurves.groupby(["source_id", "band"], sort=False)))
    for i, sid in enumerate(ids):
        period = float(periods[sid])
        for b, band in enumerate(bands):
            rows = by_star.get((sid, band))
            if rows is None or len(rows) < min_points or not period > 0:
                continue
            mag = rows["mag"].to_numpy()
            offset[i, b], scale[i, b] = np.median(mag), max(np.std(mag), 1e-3)
            m, s = fold_to_grid(
                rows["time"].to_numpy(),
                (mag - offset[i, b]) / scale[i, b],
                rows["mag_err"].to_numpy() / scale[i, b],
                period,
                n_phase,
            )
            mean[i, b], std[i, b], ok[i, b] = m, s, True
    return {
        "source_id": np.array(ids, dtype=str),
        "bands": np.array(bands, dtype=str),
        "phase": np.arange(n_phase) / n_phase,
        "mean": mean,
        "std": std,
        "period": np.array([periods[s] for s in ids], dtype=float),
        "offset": offset,
        "scale": scale,
        "ok": ok,
    }


def write_standin(arrays: dict[str, np.ndarray], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


def standin_from_results(results: str | Path, n_phase: int = 128) -> Path:
    """Write ``<results>/gp/resampled.npz`` from the cleaned shards and features.

    Each star is folded at the period that the features stage found in its
    band of highest periodogram power.
    """
    from varsky.io import read_lightcurves
    from varsky.plots import chosen_period

    results = Path(results)
    features = pd.read_parquet(results / "features" / "features.parquet")
    periods = dict(
        zip(features["source_id"], chosen_period(features).to_numpy(), strict=True)
    )
    lightcurves = read_lightcurves(sorted((results / "clean" / "shards").glob("*")))
    bands = sorted(lightcurves["band"].unique())
    arrays = make_standin(lightcurves, periods, bands, n_phase)
    return write_standin(arrays, results / "gp" / "resampled.npz")


if __name__ == "__main__":
    import sys

    print(standin_from_results(sys.argv[1]))
