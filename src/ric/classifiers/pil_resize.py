"""Resizing exactly as PIL does it, inside a differentiable pipeline.

Most clouds resize a photo with `PIL.Image.resize` (torchvision's `Resize` on PIL images, Keras' and many
serving stacks' loaders). PIL resamples 8-bit images with fixed-point coefficients and rounds to 8 bits after each
pass (horizontal, then vertical), so its output differs from `torch.nn.functional.interpolate(antialias=True)`
by up to one level. On plaintexts near a decision boundary that is enough to change the label: 15 of 200 CIFAR-10
test images upsampled to 256 get another EfficientNet-Lite0 label behind PIL's bilinear resize than behind
torch's (docs/cloud/cifar-sealed-plain-vs-target.txt). A pipeline that must predict what such a cloud computes
therefore resizes with PIL itself.

`pil_resize(x, size, interpolation)`: x float (N, 3, H, W) in [0, 1], read as 8-bit pixels `round(255·x)`;
returns the PIL-resized pixels / 255 (exactly what a cloud that feeds `np.asarray(img) / 255` sees). Under
autograd the value is PIL's and the gradient is that of torch's antialiased interpolation (a straight-through
estimate: the two differ by at most about one level). PIL's integer arithmetic is the same on every machine.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

FILTERS = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC}


def pixels_of(x: torch.Tensor) -> list[Image.Image]:
    """The 8-bit RGB images PIL resizes for float images x (N, 3, H, W) in [0, 1]: round(255·x), clipped. Several
    resizes of one x (a pipeline's views) can share them."""
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"PIL resizing here takes RGB images (N, 3, H, W), not {tuple(x.shape)}")
    u8 = x.detach().mul(255).round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().cpu()
    return [Image.fromarray(p.numpy(), "RGB") for p in u8]


def _exact(x: torch.Tensor, size: tuple[int, int], interpolation: str, pixels) -> torch.Tensor:
    h, w = size
    out = np.stack([np.asarray(p.resize((w, h), FILTERS[interpolation])) for p in pixels])
    return (torch.from_numpy(out).permute(0, 3, 1, 2).to(x.device, x.dtype) / 255)


def pil_resize(x: torch.Tensor, size: tuple[int, int], interpolation: str, pixels=None) -> torch.Tensor:
    """`pixels`: x's `pixels_of`, when the caller has them already."""
    exact = _exact(x, size, interpolation, pixels_of(x) if pixels is None else pixels)
    if not (torch.is_grad_enabled() and x.requires_grad):
        return exact
    approx = F.interpolate(x, size=size, mode=interpolation, antialias=True, align_corners=False)
    return approx + (exact - approx).detach()
