"""Learning-rate schedules: the cosine (with optional linear warm-up) once, stepped by torch's LambdaLR.

Every trainer builds its schedule with `scheduler(opt, lr_at, start_step)` and calls `.step()` after each
optimiser step; a resumed run passes the step it resumes at (the position is recomputed from the step, so a
checkpoint needs no scheduler state). `lr_at(step)` returns the learning rate itself: LambdaLR multiplies it by
an initial lr of 1, so the sequence is bit for bit the formula's. (A factor times the base lr would not be:
base·(s + 1)/w differs from base·((s + 1)/w) in the last bit for about one step in ten, and torch's
CosineAnnealingLR updates the rate recursively, which drifts from the closed form in the last bits.)
"""
from __future__ import annotations

import math

import torch


def cosine(base: float, fraction: float) -> float:
    """base·(1 + cos(π·min(1, fraction)))/2: from base at fraction 0 down to 0 at fraction 1 and after."""
    return base * 0.5 * (1 + math.cos(math.pi * min(1.0, fraction)))


def warmup_cosine(base: float, step: int, total: int, warmup: int = 0) -> float:
    """Linear warm-up over `warmup` steps (base·(step + 1)/warmup), then the cosine over the remaining steps."""
    if step < warmup:
        return base * (step + 1) / warmup
    return cosine(base, (step - warmup) / max(1, total - warmup))


def scheduler(opt: torch.optim.Optimizer, lr_at, start_step: int = 0) -> torch.optim.lr_scheduler.LambdaLR:
    """torch's LambdaLR giving `opt` the learning rate lr_at(step), positioned at `start_step` (0 for a new run;
    the step a resumed run starts at). lr_at is called with the step number when the scheduler steps."""
    for g in opt.param_groups:
        g["initial_lr"] = 1.0   # LambdaLR's lr = initial_lr · lr_at(step): lr_at gives the rate itself
    return torch.optim.lr_scheduler.LambdaLR(opt, lr_at, last_epoch=start_step - 1)


def constant(base: float):
    """lr_at for a constant rate."""
    return lambda step: base
