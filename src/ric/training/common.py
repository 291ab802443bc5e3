"""Shared pieces of the trainers: image augmentation and the run folder (config, refusal to overwrite, resume)."""
from __future__ import annotations

import os

import torch

from .checkpoint import load_config, merge_config, save_config
from .distributed import barrier, setup


def augment(x: torch.Tensor, gen: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random crop (reflect padding) and horizontal flip, per image, from `gen`."""
    n, _, h, w = x.shape
    xp = torch.nn.functional.pad(x, (pad, pad, pad, pad), mode="reflect")
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    flip = torch.rand(n, generator=gen) < 0.5
    out = torch.empty_like(x)
    for i in range(n):
        crop = xp[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w]
        out[i] = crop.flip(-1) if flip[i] else crop
    return out


def intensity_jitter(x: torch.Tensor, gen: torch.Generator, low: float, p: float = 0.5) -> torch.Tensor:
    """With probability p per image: x ↦ a·x + (1 − a)·c, a ~ U(low, 1), c ~ U(0.25, 0.75) — a lower contrast
    around a random grey. Why: Φ under keyed mixing aims at C(λ·n + (1 − λ)·0.5) (PhiConfig.view), and a classifier
    that only ever saw full-contrast images (MNIST's pure black background, 15 faces per CelebA identity) cannot
    be driven there for some classes, so encryption of those images needs many retries."""
    n = x.shape[0]
    on = (torch.rand(n, generator=gen) < p).to(x.dtype).view(n, 1, 1, 1)
    a = 1 - on * (1 - low) * torch.rand(n, generator=gen).to(x.dtype).view(n, 1, 1, 1)
    c = 0.25 + 0.5 * torch.rand(n, generator=gen).to(x.dtype).view(n, 1, 1, 1)
    return a * x + (1 - a) * c


def start_run(out_dir: str, defaults: dict, overrides: dict | None, resume: bool, device):
    """Join the torchrun group if any, then prepare the run folder (rank 0 writes it, the others read the same
    config after it): returns (rank info, this rank's device, config). The trainer applies the config's
    `threads` for its run (`scoped.torch_threads`)."""
    info, device = setup(device)
    if info.is_main:
        cfg = prepare_run(out_dir, defaults, overrides, resume)
    barrier(info)
    if not info.is_main:
        cfg = prepare_run(out_dir, defaults, overrides, resume, write=False)
    return info, device, cfg


def prepare_run(out_dir: str, defaults: dict, overrides: dict | None, resume: bool, write: bool = True) -> dict:
    """Create/validate the run folder and return the effective config (saved as config.yaml in it).

    A new run refuses a folder that already holds a checkpoint (never overwrites); `resume` reuses the
    saved config so a resumed run trains exactly what was started.
    """
    cfg_path = os.path.join(out_dir, "config.yaml")
    last = os.path.join(out_dir, "last.safetensors")
    if resume:
        if not os.path.exists(last):
            raise FileNotFoundError(f"nothing to resume in {out_dir} (no last.safetensors)")
        cfg = merge_config(defaults, load_config(cfg_path))
        if overrides:
            cfg = merge_config(cfg, overrides)
    else:
        if write and os.path.exists(last):
            raise FileExistsError(f"{out_dir} already holds a run; pass --resume to continue it or choose another "
                                  "--out")
        cfg = merge_config(defaults, overrides)
    if write:  # under torchrun only rank 0 writes
        os.makedirs(out_dir, exist_ok=True)
        save_config(cfg, cfg_path)
    return cfg
