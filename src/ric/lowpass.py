"""The low-frequency lock: an optimised image keeps the block means of the keyed noise it started from.

An adversarial pattern found for a label tends to share its low frequencies with every other pattern found for
that label (a colour cast, a blob where the classifier looks), so two ciphertexts of one label would show the
same large-scale picture. Φ and the sealed coarse attack therefore optimise

    v' = v − L(v − v_ref)

where L replaces every `block`×`block` block (aligned at the top-left corner; the last row and column of
blocks may be smaller) by its mean, per channel. v' has exactly the block means of v_ref, the keyed start, which
no two ciphertexts share; everything finer than a block is left to the optimiser. The map is linear, so
gradients pass through it unchanged in shape.

The block is 8 pixels as the classifier sees them (`lock_side`): for a model behind a resizing pipeline, 8 of
its input pixels, so a photo's blocks grow with its size and the lock never removes what the model can see.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

SIDE = 8


def lock_side(scale: float = 1.0, side: int = SIDE) -> int:
    """The lock's block side in image pixels when one pixel the classifier sees is `scale` image pixels."""
    return max(side, round(side * scale))


def block_means(v: torch.Tensor, block: int) -> torch.Tensor:
    """Means of `v` (N, C, H, W) over block×block tiles from the top-left (edge tiles over their own pixels),
    shape (N, C, ceil(H/block), ceil(W/block))."""
    return F.avg_pool2d(v, block, ceil_mode=True)


def lowpass(v: torch.Tensor, block: int) -> torch.Tensor:
    """Every pixel of `v` (N, C, H, W) replaced by the mean of its block."""
    m = block_means(v, block)
    up = m.repeat_interleave(block, dim=-2).repeat_interleave(block, dim=-1)
    return up[..., :v.shape[-2], :v.shape[-1]]


def locked(v: torch.Tensor, ref: torch.Tensor, block: int) -> torch.Tensor:
    """`v` moved so that its block means equal `ref`'s: v − L(v − ref)."""
    return v - lowpass(v - ref, block)
