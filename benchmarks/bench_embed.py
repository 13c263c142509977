"""Time the embedding stage: training with the configured sizes, then inference.

Usage (from the repository root, after the features stage has run):

    PYTHONPATH=src python benchmarks/bench_embed.py results/eros1/gp/resampled.npz

Without that file (the GP stage not run yet) pass ``--standin results/eros1``
to build a stand-in from the cleaned shards and features first. Prints the
training time, the seconds per epoch, the embeddings per second of inference
and the peak memory of the process.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO / "tests")]

from varsky import embed  # noqa: E402
from varsky.config import load_schema, validate_config  # noqa: E402


def configured_params(config_path: Path) -> tuple[dict, int]:
    import yaml

    config = yaml.safe_load(config_path.read_text())
    config = validate_config(config, load_schema(REPO / "config/config.schema.yaml"))
    return config["embed"], config["seed"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("resampled", nargs="?", type=Path)
    parser.add_argument("--standin", type=Path, help="results/<dataset> to build from")
    parser.add_argument("--config", type=Path, default=REPO / "config/config.yaml")
    parser.add_argument("--epochs", type=int, help="override the configured epochs")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    if args.standin is not None:
        from gp_standin import standin_from_results

        args.resampled = standin_from_results(args.standin)
    params, seed = configured_params(args.config)
    if args.epochs is not None:
        params["epochs"] = args.epochs
    curves = embed.load_resampled(args.resampled)
    device = embed.default_device()

    started = time.perf_counter()
    encoder, history = embed.train_encoder(curves, params, seed, args.threads, device)
    if device == "cuda":
        torch.cuda.synchronize()
    trained = time.perf_counter() - started

    started = time.perf_counter()
    table = embed.embed(encoder, curves, params, params["inference_batch_size"])
    inferred = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"device                 {device}, {args.threads} thread(s)")
    print(
        f"stars                  {len(curves)} ({len(curves.bands)} bands, "
        f"{len(curves.phase)} phase bins)"
    )
    print(
        f"training               {trained:.1f} s for {params['epochs']} epochs "
        f"({trained / params['epochs']:.2f} s per epoch, "
        f"final loss {history['loss'].iloc[-1]:.3f})"
    )
    print(f"inference              {len(table) / inferred:.0f} embeddings per second")
    print(f"peak memory            {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
