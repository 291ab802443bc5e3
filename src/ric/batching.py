"""Inference passes in cache-sized batches, on channels-last memory.

On CPU, oneDNN's convolutions ran the shipped networks faster on channels-last tensors and on small batches: the
celeba64 encoder (F and E) took 24 ms per 64×64 image at one batch of 200 contiguous images and 11 ms at batches
of 32 channels-last ones (one thread; docs/results.md, "64×64 at 6.9× a classifier pass"). Larger images take fewer
per batch: at 160×160 the celeba160 encoder took 51 ms per face in batches of 16, 43 in batches of 8 and 46 in
batches of 4, its classifier 3.8, 4.1 and 4.7 ms (docs/results.md, "Batches and the allocator").
Batches change only
float rounding (≈ 1e-7), never what a pass computes; Φ, whose bits must regenerate, does not use this module (its
layout is recorded in its settings: ric.nae.PhiConfig.memory).
"""
from __future__ import annotations

from typing import Callable

import torch

CPU_BATCH = 16           # images per pass on CPU at most (cache-sized at 32×32 and 64×64)
CPU_PIXELS = 8 * 160 * 160   # pixels per pass on CPU at most (fewer images per batch above 113×113)
ACCELERATOR_BATCH = 256  # elsewhere: large batches keep a GPU busy


def batch_size(device, shape=None) -> int:
    """Images per pass for inputs of `shape` (…, H, W) on `device`: on CPU at most CPU_BATCH images and CPU_PIXELS
    pixels (at least one image)."""
    if torch.device(device).type != "cpu":
        return ACCELERATOR_BATCH
    if shape is None:
        return CPU_BATCH
    return max(1, min(CPU_BATCH, CPU_PIXELS // max(1, shape[-1] * shape[-2])))


def channels_last(t: torch.Tensor) -> torch.Tensor:
    """A 4-D tensor on channels-last memory (a no-op when it is already); anything else unchanged."""
    return t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t


def in_batches(fn: Callable[..., torch.Tensor], *xs: torch.Tensor, batch: int | None = None) -> torch.Tensor:
    """fn(*xs) computed over slices of `batch` rows (default: batch_size of the inputs' device and size), each input on
    channels-last memory, the outputs concatenated along the first dimension."""
    n = len(xs[0])
    b = batch or batch_size(xs[0].device, xs[0].shape)
    if n <= b:
        return fn(*map(channels_last, xs))
    return torch.cat([fn(*[channels_last(x[s:s + b]) for x in xs]) for s in range(0, n, b)])


__all__ = ["CPU_BATCH", "CPU_PIXELS", "ACCELERATOR_BATCH", "batch_size", "channels_last", "in_batches"]
