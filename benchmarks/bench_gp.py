"""Speed of the GP stage: milliseconds per light curve and peak memory.

Usage (from the repository root)::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 PYTHONPATH=src \
        python benchmarks/bench_gp.py [--stars 25] [--lengths 1250 2500 5000]

Prints, for EROS-1 bands (about 120 points), the CPU time of the detrending
fit (hyperparameters included) with the exact and with the HODLR solver, with
the fit's quality (mean ln L, fits at a bound, likelihood evaluations per
fit), and of the whole per-band work of the stage (detrending fit, trend,
folded fit and resampling). Then, for simulated curves of growing length, the
CPU time of one likelihood evaluation with each solver and of the whole HODLR
fit, their ratio per doubling of the length, and the peak resident memory of
the process that fitted each length. CPU time is what the same work costs on
an idle core of a shared machine; run single-threaded as above.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from varsky import gp
from varsky.config import load_schema, validate_config
from varsky.io import iter_ramp_stars, read_ramp_labels

REPO = Path(__file__).resolve().parents[1]
CLASSES = {1: "eclipsing_binary", 2: "cepheid", 3: "rr_lyrae", 4: "mira"}


def gp_params() -> dict:
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    schema = load_schema(REPO / "config/config.schema.yaml")
    return validate_config(config, schema)["gp"]


def eros1_bands(data: Path, n_stars: int) -> list[tuple]:
    """(time, mag, mag_err) of the first ``n_stars`` stars' bands, cleaned of
    placeholders and repeated times."""
    stars = iter_ramp_stars(
        data / "train.csv", data / "train_varlength_features.csv.gz"
    )
    labels = read_ramp_labels(data / "train.csv", CLASSES, "train")
    periods = labels.set_index("source_id")["reference_period"]
    bands = []
    for _ in range(n_stars):
        source_id, rows = next(stars)
        period = float(periods[source_id])
        for _, band in rows.groupby("band"):
            band = band[band["mag"] < 24.9].sort_values("time")
            band = band.drop_duplicates("time")
            columns = (band[c].to_numpy() for c in ("time", "mag", "mag_err"))
            bands.append((*columns, period, f"{source_id}"))
    return bands


def per_curve_ms(function, curves) -> tuple[float, float]:
    """Mean wall-clock and CPU milliseconds of ``function`` per curve; on a
    shared machine the CPU time is what the same work costs on an idle core."""
    wall, cpu = time.perf_counter(), time.process_time()
    for curve in curves:
        function(*curve)
    return (
        1e3 * (time.perf_counter() - wall) / len(curves),
        1e3 * (time.process_time() - cpu) / len(curves),
    )


def simulated(n: int, rng: np.random.Generator) -> tuple:
    """A 2.3-d sinusoid with a slow trend, ``n`` points over 3000 d."""
    t = np.sort(rng.uniform(0.0, 3000.0, n))
    mag = 17.0 + 0.3 * np.sin(2 * np.pi * t / 2.3) + 0.2 * np.sin(t / 700.0)
    err = np.full(n, 0.02)
    return t, mag + rng.normal(0.0, 0.02, n), err, 2.3


def fit_quality(curves, params) -> str:
    """Mean ln L, fits at a bound, failures and evaluations per fit, with the
    same per-star seeds as the workflow."""
    likelihoods, at_bound, failed, evaluations = [], 0, 0, []
    for t, m, e, period, sid in curves:
        try:
            fit, _ = gp.fit_detrending(
                t, m, e, period, params, gp.star_rng(0, sid, str(t.size))
            )
        except gp.FitError:
            failed += 1
            continue
        likelihoods.append(fit.log_likelihood)
        at_bound += fit.status == "at_bound"
        evaluations.append(fit.n_evaluations)
    return (
        f"mean ln L {np.mean(likelihoods):.3f}, {at_bound} at a bound, "
        f"{failed} failed, {np.mean(evaluations):.1f} ln L evaluations per fit"
    )


def one_length(n: int, params: dict, seed: int, out) -> None:
    """Time one ln L with each solver and a whole fit at ``n`` points; send
    the CPU milliseconds and this process's peak memory (MiB) through ``out``."""
    rng = np.random.default_rng([seed, n])
    t, m, e, period = simulated(n, rng)
    y = m - np.median(m)
    values = gp.detrend_start(y, e, period, gp.detrend_bounds(period, 3000.0, params))
    evaluation = {}
    for name in ("exact", "hodlr"):
        limit = 2 if name == "hodlr" else n + 1
        solver_params = {**params, "hodlr_min_points": limit}
        kernel = gp.signal_kernel(params["kernel"], values) + gp.trend_kernel(values)
        model = gp.build_gp(
            kernel, values["jitter"], gp.make_solver(n, solver_params)[1]
        )
        started = time.process_time()
        model.compute(t, e)
        model.log_likelihood(y)
        evaluation[name] = 1e3 * (time.process_time() - started)
    hodlr = {**params, "hodlr_min_points": min(n, params["hodlr_min_points"])}
    started = time.process_time()
    fit, _ = gp.fit_detrending(t, m, e, period, hodlr, gp.star_rng(0, "sim", n))
    fit_ms = 1e3 * (time.process_time() - started)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.send((evaluation, fit_ms, fit.n_evaluations, fit.log_likelihood, peak))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stars", type=int, default=25)
    parser.add_argument("--lengths", type=int, nargs="*", default=[1250, 2500, 5000])
    parser.add_argument(
        "--data", type=Path, default=REPO.parent / "shared" / "data" / "eros1"
    )
    args = parser.parse_args()
    params = gp_params()
    hodlr = {**params, "hodlr_min_points": 2, "hodlr_leaf_size": 32}

    curves = eros1_bands(args.data, args.stars)
    points = np.mean([c[0].size for c in curves])
    print(f"EROS-1: {len(curves)} bands, {points:.0f} points on average")
    print(
        f"kernel {params['kernel']}, {params['restarts']} random restarts "
        f"after the data-driven start"
    )

    def fit(solver_params):
        def run(t, m, e, period, sid):
            with contextlib.suppress(gp.FitError):
                gp.fit_detrending(
                    t, m, e, period, solver_params, gp.star_rng(0, sid, str(t.size))
                )

        return run

    for name, solver_params in (("exact", params), ("hodlr", hodlr)):
        wall, cpu = per_curve_ms(fit(solver_params), curves)
        print(
            f"  detrending fit, {name:5s} solver: {wall:7.1f} ms wall, "
            f"{cpu:7.1f} ms CPU per light curve"
        )
    print(f"  fit quality (exact): {fit_quality(curves, params)}")

    def whole(t, m, e, period, sid):
        frame = pd.DataFrame(
            {"source_id": sid, "band": "R", "time": t, "mag": m, "mag_err": e}
        ).assign(flags=0)
        gp.process_shard(frame, pd.Series({sid: period}), ["R"], params, 0)

    wall, cpu = per_curve_ms(whole, curves)
    print(
        f"  whole stage per band (exact):   {wall:7.1f} ms wall, "
        f"{cpu:7.1f} ms CPU per light curve"
    )

    print(
        "simulated curves (CPU ms; each length in its own process): one ln L "
        "with each solver, the whole HODLR fit, peak memory"
    )
    context = multiprocessing.get_context("fork")
    previous = None
    for n in args.lengths:
        receive, send = context.Pipe(duplex=False)
        child = context.Process(target=one_length, args=(n, params, 0, send))
        child.start()
        evaluation, fit_ms, evaluations, log_likelihood, peak = receive.recv()
        child.join()
        line = (
            f"  N = {n:5d}: ln L exact {evaluation['exact']:8.1f}, "
            f"HODLR {evaluation['hodlr']:7.1f}; HODLR fit {fit_ms:7.0f} "
            f"({evaluations} ln L, ln L = {log_likelihood:.1f}); "
            f"peak {peak:.0f} MiB"
        )
        if previous is not None:
            per_doubling = 1.0 / np.log2(n / previous[0])
            growth = (evaluation["hodlr"] / previous[1]) ** per_doubling
            fit_growth = (fit_ms / previous[2]) ** per_doubling
            line += f"; per doubling: ln L x{growth:.2f}, fit x{fit_growth:.2f}"
        previous = (n, evaluation["hodlr"], fit_ms)
        print(line, flush=True)

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of the EROS-1 part: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
