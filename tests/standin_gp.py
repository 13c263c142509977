"""A stand-in for the GP stage's ``resampled.npz``, built from real light curves.

Each band is folded at the star's period, normalised as
``(mag − median) / standard deviation`` and smoothed onto the phase grid with a
periodic Gaussian kernel (a Nadaraya–Watson estimate); ``std`` is the kernel's
weighted scatter over the square root of its effective number of points. The
layout is the GP stage's, so the diffusion stage can be developed and tested
before the GP fits exist. Usable as a command:

    python tests/standin_gp.py results/eros1 results/eros1/gp/resampled.npz
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

KERNEL_WIDTH = 0.03  # phase units; a few percent of the cycle


def resample_star_band(
    time: np.ndarray, mag: np.ndarray, period: float, phase: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Smoothed normalised magnitude and its scatter on ``phase``."""
    offset = float(np.median(mag))
    scale = float(np.std(mag)) or 1.0
    normalised = (mag - offset) / scale
    folded = np.mod((time - time[0]) / period, 1.0)
    distance = np.abs(phase[:, None] - folded[None, :])
    distance = np.minimum(distance, 1.0 - distance)
    weights = np.exp(-0.5 * (distance / KERNEL_WIDTH) ** 2) + 1e-12
    total = weights.sum(axis=1)
    mean = weights @ normalised / total
    variance = weights @ normalised**2 / total - mean**2
    effective = total**2 / (weights**2).sum(axis=1)
    std = np.sqrt(np.clip(variance, 0, None) / effective)
    return mean, std, offset, scale


def make_resampled(
    lightcurves: pd.DataFrame,
    periods: pd.Series,
    bands: list[str],
    n_phase: int = 128,
    min_points: int = 20,
) -> dict[str, np.ndarray]:
    """The arrays of ``resampled.npz`` for every star with a positive period."""
    phase = np.arange(n_phase) / n_phase
    stars = [s for s in pd.unique(lightcurves["source_id"]) if periods.get(s, 0) > 0]
    n, n_bands = len(stars), len(bands)
    mean = np.full((n, n_bands, n_phase), np.nan, np.float32)
    std = np.full((n, n_bands, n_phase), np.nan, np.float32)
    offset = np.full((n, n_bands), np.nan)
    scale = np.full((n, n_bands), np.nan)
    ok = np.zeros((n, n_bands), bool)
    groups = lightcurves.groupby(["source_id", "band"], sort=False)
    index = {s: i for i, s in enumerate(stars)}
    for (sid, band), rows in groups:
        if sid not in index or band not in bands or len(rows) < min_points:
            continue
        i, b = index[sid], bands.index(band)
        rows = rows.sort_values("time")
        m, s, o, k = resample_star_band(
            rows["time"].to_numpy(), rows["mag"].to_numpy(), periods[sid], phase
        )
        mean[i, b], std[i, b], offset[i, b], scale[i, b], ok[i, b] = m, s, o, k, True
    return {
        "source_id": np.array(stars, dtype=str),
        "bands": np.array(bands, dtype=str),
        "phase": phase,
        "mean": mean,
        "std": std,
        "period": np.array([periods[s] for s in stars], dtype=float),
        "offset": offset,
        "scale": scale,
        "ok": ok,
    }


def from_results(results: Path) -> dict[str, np.ndarray]:
    """Stand-in from a workflow run: cleaned shards and the features' periods."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from varsky.io import read_lightcurves
    from varsky.plots import chosen_period

    lightcurves = read_lightcurves(sorted((results / "clean/shards").glob("*.parquet")))
    features = pd.read_parquet(results / "features/features.parquet")
    periods = pd.Series(chosen_period(features).to_numpy(), index=features["source_id"])
    bands = sorted(pd.unique(lightcurves["band"]))
    return make_resampled(lightcurves, periods, bands)


if __name__ == "__main__":
    results, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as handle:
        np.savez(handle, **from_results(results))
