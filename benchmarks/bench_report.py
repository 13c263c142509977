"""What the report's two formats and its table pages cost.

Draws the example light-curve figure (the densest scatter plot of the
workflow) for a number of stars and saves it as the PNG alone and as PNG plus
vector PDF (:func:`varsky.plots.save_figure`); then writes the table page of a
metrics table of many rows. Prints seconds, file sizes and the peak resident
memory. Run after the workflow has made the cleaned shards and the features:

    PYTHONPATH=src python benchmarks/bench_report.py --results results/eros1
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from varsky import plots
from varsky.io import read_lightcurves
from varsky.report import write_table_page


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results/eros1"))
    parser.add_argument("--per-class", type=int, default=3)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--dpi", type=int, default=150)
    args = parser.parse_args()

    shards = sorted((args.results / "clean" / "shards").glob("shard-*.parquet"))
    lightcurves = read_lightcurves(shards[:1])
    features = pd.read_parquet(args.results / "features" / "features.parquet")
    labels = pd.read_parquet(args.results / "ingest" / "labels.parquet")
    periods = pd.Series(
        plots.chosen_period(features).to_numpy(), index=features["source_id"]
    )
    examples = plots.pick_examples(
        labels, set(lightcurves["source_id"]), args.per_class, seed=42
    )
    points = lightcurves["source_id"].isin(examples["source_id"]).sum()

    with tempfile.TemporaryDirectory() as folder:
        png = Path(folder) / "examples.png"
        fig = plots.plot_examples(lightcurves, examples, periods, folded=True)
        start = time.perf_counter()
        fig.savefig(png, dpi=args.dpi)
        png_only = time.perf_counter() - start
        start = time.perf_counter()
        plots.save_figure(fig, png, dpi=args.dpi)
        both = time.perf_counter() - start
        print(
            f"figure of {len(examples)} stars, {points} points: PNG alone "
            f"{png_only:.2f} s; PNG + PDF {both:.2f} s "
            f"(PNG {png.stat().st_size / 1e3:.0f} kB, "
            f"PDF {png.with_suffix('.pdf').stat().st_size / 1e3:.0f} kB)"
        )

        rng = np.random.default_rng(42)
        table = pd.DataFrame(
            {
                "model": rng.choice(["xgboost", "mlp", "rnn"], args.rows),
                "f1": rng.random(args.rows),
                "n": rng.integers(0, 1000, args.rows),
            }
        )
        source = Path(folder) / "table.csv"
        table.to_csv(source, index=False)
        start = time.perf_counter()
        write_table_page(source, Path(folder) / "table.html", "benchmark")
        seconds = time.perf_counter() - start
        size = (Path(folder) / "table.html").stat().st_size / 1e6
        print(
            f"table page of {args.rows} rows: {seconds:.2f} s, "
            f"{args.rows / seconds:.0f} rows/s, {size:.1f} MB"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory {peak:.0f} MB")


if __name__ == "__main__":
    main()
