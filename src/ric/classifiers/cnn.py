"""A small residual CNN for 32x32 colour images (the shipped CIFAR-10 classifier).

Inputs are images in [0, 1]; per-channel normalisation is part of the module, so a caller never
normalises by hand.
"""
from __future__ import annotations

import torch
from torch import nn

from . import CLASSIFIERS


class Normalize(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x):
        return (x - self.mean) / self.std


def _conv_bn(cin, cout, stride=1):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class ResBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.body = nn.Sequential(_conv_bn(c, c), nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c))

    def forward(self, x):
        return torch.relu(x + self.body(x))


class SmallResNet(nn.Module):
    """conv-bn-relu stem, three stages (width w, 2w, 4w) each a stride-2 conv and a residual block."""

    def __init__(self, num_classes: int = 10, width: int = 32, in_ch: int = 3,
                 mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616)):
        super().__init__()
        w = width
        self.norm = Normalize(mean, std)
        self.features = nn.Sequential(
            _conv_bn(in_ch, w), ResBlock(w),
            _conv_bn(w, 2 * w, 2), ResBlock(2 * w),
            _conv_bn(2 * w, 4 * w, 2), ResBlock(4 * w),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(4 * w, num_classes)

    def forward(self, x):
        return self.head(self.features(self.norm(x)))


@CLASSIFIERS.register("small_resnet")
def small_resnet(num_classes: int = 10, width: int = 32, **kw):
    return SmallResNet(num_classes=num_classes, width=width, **kw)
