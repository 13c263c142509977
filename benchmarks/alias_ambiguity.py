"""How well can the light curves themselves tell a period from its daily alias?

A diagnostic of the features stage's period search on a labelled dataset with
reference periods (EROS-1). For the classes given, it prints

* ``exact``: the fraction of adopted periods within the recovery tolerance of
  the reference period;
* ``alias``: the fraction whose strongest sampling alias (``period_alias``) is
  the reference instead;
* ``ceiling``: their sum, what a perfect choice between the two would reach;

and then, for a sample of stars of each kind (adopted right, alias right), how
often a multi-harmonic fit prefers the alias: weighted by the reported errors
(χ², as the features stage does) and robustly (the median absolute residual of a
fit with an error floor and one 3σ clip). A criterion that could resolve
the aliases would switch most alias-right stars and few adopted-right ones;
one that switches both alike is a coin toss.

Run after the workflow has made the features (a minute on one core)::

    PYTHONPATH=src python benchmarks/alias_ambiguity.py --results results/eros1
"""

from __future__ import annotations

import argparse
import glob
from pathlib import Path

import numpy as np
import pandas as pd

from varsky.period import harmonic_chi2


def robust_cost(time, mag, mag_err, frequency, n_harmonics, floor=0.02) -> float:
    """Robust scatter about the fit: the scaled median absolute residual of a
    weighted fit (errors with a floor) refitted after one 3σ clip."""
    angle = np.multiply.outer(
        2 * np.pi * frequency * time, np.arange(1, n_harmonics + 1)
    )
    design = np.hstack([np.ones((time.size, 1)), np.cos(angle), np.sin(angle)])
    weight = 1.0 / np.hypot(mag_err, floor)
    design, target = design * weight[:, None], mag * weight
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    residual = target - design @ coef
    keep = np.abs(residual) < 3 * 1.4826 * np.median(np.abs(residual))
    coef, *_ = np.linalg.lstsq(design[keep], target[keep], rcond=None)
    return float(1.4826 * np.median(np.abs(target - design @ coef)))


def prefers_alias(curve: pd.DataFrame, period, alias, cost, n_harmonics) -> bool:
    """Whether ``cost`` summed over bands is lower at the alias."""
    at = {}
    for name, frequency in (("adopted", 1 / period), ("alias", 1 / alias)):
        at[name] = sum(
            cost(
                b.time.to_numpy(),
                b.mag.to_numpy(),
                b.mag_err.to_numpy(),
                frequency,
                n_harmonics,
            )
            for _, b in curve.groupby("band")
        )
    return at["alias"] < at["adopted"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=Path("results/eros1"))
    parser.add_argument("--classes", nargs="*", default=["rr_lyrae", "cepheid"])
    parser.add_argument("--tolerance", type=float, default=0.01)
    parser.add_argument("--sample", type=int, default=200, help="stars per kind")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    features = pd.read_parquet(args.results / "features/features.parquet")
    labels = pd.read_parquet(args.results / "ingest/labels.parquet")
    table = labels.merge(features, on="source_id")
    table = table[table["class_name"].isin(args.classes)]
    reference = table["reference_period"]
    exact = (table["period"] / reference - 1).abs() <= args.tolerance
    alias = (table["period_alias"] / reference - 1).abs() <= args.tolerance

    print(f"{'class':18s} {'n':>5s} {'exact':>6s} {'alias':>6s} {'ceiling':>8s}")
    for name, rows in table.groupby("class_name"):
        e, a = exact[rows.index], alias[rows.index]
        print(
            f"{name:18s} {len(rows):5d} {e.mean():6.3f} {a.mean():6.3f} "
            f"{(e | a).mean():8.3f}"
        )

    kinds = {"adopted right": table[exact], "alias right": table[alias & ~exact]}
    kinds = {
        k: v.sample(min(args.sample, len(v)), random_state=args.seed)
        for k, v in kinds.items()
    }
    wanted = set(pd.concat(kinds.values())["source_id"])
    paths = sorted(glob.glob(str(args.results / "clean/shards/*.parquet")))
    curves = pd.concat(pd.read_parquet(p) for p in paths)
    curves = dict(tuple(curves[curves["source_id"].isin(wanted)].groupby("source_id")))

    print("\nfraction of stars for which the fit prefers the alias")
    print(f"{'criterion':28s} " + " ".join(f"{k:>14s}" for k in kinds))
    criteria = [(f"chi2, {h} harmonics", harmonic_chi2, h) for h in (1, 2, 4)]
    criteria += [(f"robust, {h} harmonics", robust_cost, h) for h in (1, 2, 4)]
    for label, cost, n_harmonics in criteria:
        shares = [
            np.mean(
                [
                    prefers_alias(
                        curves[r.source_id], r.period, r.period_alias, cost, n_harmonics
                    )
                    for r in rows.itertuples()
                ]
            )
            for rows in kinds.values()
        ]
        print(f"{label:28s} " + " ".join(f"{s:14.3f}" for s in shares))


if __name__ == "__main__":
    main()
