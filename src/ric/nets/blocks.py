"""Building blocks of F, E and D: parallel 3x3/4x4/5x5 conv branches and squeeze-excitation heads."""
from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError


def _pad(k: int, i: int) -> int:
    # 3x3 -> 1, 5x5 -> 2; 4x4 alternates 1 and 2 so every pair of layers keeps the spatial size
    return (k - 1) // 2 if k % 2 else (1 if i % 2 == 0 else 2)


def conv_stack(cin: int, cout: int, k: int, depth: int) -> nn.Sequential:
    if k % 2 == 0 and depth % 2:
        raise ConfigError(f"a {k}x{k} branch needs an even depth to keep the image size (got {depth})")
    layers = []
    for i in range(depth):
        layers += [nn.Conv2d(cin if i == 0 else cout, cout, k, padding=_pad(k, i)), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class SqueezeExcite(nn.Module):
    def __init__(self, c: int, reduction: int = 2):
        super().__init__()
        self.fc = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, c // reduction, 1), nn.ReLU(inplace=True),
                                nn.Conv2d(c // reduction, c, 1), nn.Sigmoid())

    def forward(self, x):
        return x * self.fc(x)


class MultiScale(nn.Module):
    """Stage 1: three branches (3x3, 4x4, 5x5) of `depth` convs each; stage 2: heads (3x3 one conv,
    4x4 two convs, 5x5 one conv) each followed by squeeze-excitation. Output: 3*width channels, same H, W."""

    def __init__(self, cin: int, width: int, depth: int = 4, se_reduction: int = 2):
        super().__init__()
        self.branches = nn.ModuleList([conv_stack(cin, width, k, depth) for k in (3, 4, 5)])
        self.heads = nn.ModuleList([
            nn.Sequential(conv_stack(3 * width, width, k, d), SqueezeExcite(width, se_reduction))
            for k, d in ((3, 1), (4, 2), (5, 1))])
        self.out_channels = 3 * width

    def forward(self, x):
        h = torch.cat([b(x) for b in self.branches], 1)
        return torch.cat([hd(h) for hd in self.heads], 1)
