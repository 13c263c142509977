"""Speed of the diffusion stage with the sizes of config/config.yaml.

Prints the training time (seconds per optimiser step and the projected time of
the configured number of steps, or the measured time with ``--full``), the
sampling throughput of both samplers in curves per second and the peak memory.

    PYTHONPATH=src python benchmarks/bench_diffusion.py \\
        --resampled results/eros1/gp/resampled.npz \\
        --labels results/eros1/ingest/labels.parquet --threads 2

Without a GP table, ``python tests/standin_gp.py results/eros1 <path>`` makes
a stand-in with the same layout from a finished features run.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import pandas as pd
import torch

from varsky import diffusion
from varsky.config import load_schema, validate_config

REPO = Path(__file__).resolve().parents[1]


def configured_settings(config_path: Path) -> tuple[dict, int]:
    import yaml

    config = yaml.safe_load(config_path.read_text())
    config = validate_config(config, load_schema(REPO / "config/config.schema.yaml"))
    return config["diffusion"], config["seed"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resampled", type=Path, required=True)
    parser.add_argument("--labels", type=Path, required=True)
    parser.add_argument("--config", type=Path, default=REPO / "config/config.yaml")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--timed-steps", type=int, default=100, help="training steps timed"
    )
    parser.add_argument("--full", action="store_true", help="train every step")
    parser.add_argument("--curves", type=int, default=256, help="curves sampled")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    settings, seed = configured_settings(args.config)
    data = diffusion.training_set(
        diffusion.load_resampled(args.resampled), pd.read_parquet(args.labels)
    )
    device = diffusion.choose_device(settings["device"])
    print(f"device {device}, {args.threads} threads, {len(data.curves)} curves")

    steps = settings["training_steps"] if args.full else args.timed_steps
    started = time.perf_counter()
    model, _ = diffusion.train_diffusion(
        data, dict(settings, training_steps=steps), seed, settings["device"]
    )
    seconds = time.perf_counter() - started
    per_step = seconds / steps
    print(
        f"training: {per_step * 1000:.0f} ms per step of {settings['batch_size']} "
        f"curves; {settings['training_steps']} steps "
        f"{'took' if args.full else 'project to'} "
        f"{per_step * settings['training_steps'] / 60:.1f} min"
    )

    counts = {name: args.curves // len(model.classes) for name in model.classes}
    total = sum(counts.values())
    first = diffusion.first_sampling_step(model.schedule, settings["min_alpha_bar"])
    for sampler, n_calls in (
        ("ddim", len(diffusion.ddim_steps(first, settings["sampling_steps"]))),
        ("ancestral", first + 1),
    ):
        started = time.perf_counter()
        diffusion.sample_curves(
            model,
            counts,
            seed,
            sampler=sampler,
            n_sampling_steps=settings["sampling_steps"],
            eta=settings["ddim_eta"],
            batch_size=settings["sample_batch_size"],
            device=settings["device"],
            min_alpha_bar=settings["min_alpha_bar"],
        )
        seconds = time.perf_counter() - started
        print(
            f"sampling, {sampler} ({n_calls} network calls): {total / seconds:.1f} "
            f"curves per second ({total} curves in {seconds:.1f} s)"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory: {peak:.0f} MiB")
    if torch.cuda.is_available():
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
