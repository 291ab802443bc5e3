"""`ric experiment NAME`: the paper's comparisons (sections 5.4-5.5) as resumable, budgeted commands.

Each experiment is one module with `run(ctx) -> dict`; it writes OUT/NAME.json and OUT/NAME.md, and one JSON
per finished part under OUT/NAME/ (skipped on --resume). See `common.py` for the shared definitions.
"""
from __future__ import annotations

import importlib

EXPERIMENTS = {
    "table1-context": ("table1_context", "Table 1: cited PPML accuracies next to our measured ADP"),
    "ablation": ("ablation", "Table 4: NAE w/ SRL, RNI w/ SRL, NAE w/o SRL, trained with one budget"),
    "lambda-sweep": ("lambda_sweep", "Fig. 7: λ = 0.1..0.9, ACC_e, PSNR and a privacy score"),
    "generalisation": ("generalisation", "Table 3: shipped RIC models across MNIST, CIFAR-10, CelebA-64"),
    "baselines": ("baselines", "Table 2: LSB, DDH-, HiNet-, IICNet-style hiding with NAE containers"),
}


def get(name: str):
    """The module of experiment `name` (RICError, a one-line user error, for an unknown name)."""
    from ...errors import RICError
    if name not in EXPERIMENTS:
        raise RICError(f"unknown experiment {name!r}; known: {', '.join(EXPERIMENTS)}")
    return importlib.import_module(f".{EXPERIMENTS[name][0]}", __name__)
