"""uint8 HWC pixels <-> float NCHW tensors in [0, 1]: the one conversion between files and networks."""
from __future__ import annotations

import numpy as np
import torch


def to_float(pixels, device="cpu") -> torch.Tensor:
    """uint8 (N, H, W, C) pixels — an array, a tensor or a list of (H, W, C) arrays — as float (N, C, H, W) in
    [0, 1] on `device` (converted there, so a GPU does the division)."""
    if isinstance(pixels, (list, tuple)):
        pixels = np.stack(pixels)
    t = pixels if isinstance(pixels, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(pixels))
    if t.dtype != torch.uint8 or t.ndim != 4:
        raise ValueError(f"expected uint8 (N, H, W, C) pixels, got {t.dtype} of shape {tuple(t.shape)}")
    return t.to(device).permute(0, 3, 1, 2).float().div_(255)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """float (N, C, H, W) in [0, 1] -> uint8 (N, H, W, C) on the CPU, rounded to the nearest level (clipped)."""
    return torch.round(x.clamp(0, 1) * 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().contiguous()
