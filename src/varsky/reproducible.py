"""Same config, same numbers: the seeding of PyTorch shared by the neural stages.

NumPy, scikit-learn and XGBoost take the config's ``seed`` where they are
called; PyTorch keeps global state, set here once per training or sampling.
"""

from __future__ import annotations

import os

import torch


def seed_everything(seed: int) -> torch.Generator:
    """Seed PyTorch's global generators, ask for its deterministic algorithms
    and return a seeded CPU generator.

    With the same seed and thread count a training gives the same weights on
    the same machine. On a GPU this needs deterministic kernels and a fixed
    cuBLAS workspace (``CUBLAS_WORKSPACE_CONFIG``, set here unless the user
    set it); an operation without a deterministic kernel warns instead of
    failing. See https://pytorch.org/docs/stable/notes/randomness.html.
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
