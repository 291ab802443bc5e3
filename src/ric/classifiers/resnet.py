"""ResNet-18 and ResNet-50 (He et al., "Deep Residual Learning for Image Recognition", 2016).

Written from the paper's table 1: four stages of basic blocks (two 3x3 convs; ResNet-18: 2-2-2-2) or
bottleneck blocks (1x1, 3x3, 1x1 with 4x expansion; ResNet-50: 3-4-6-3), widths 64-128-256-512, stride 2
at the start of stages 2-4 (on the 3x3 conv of a bottleneck), batch norm after every conv, a projection
(1x1 conv + BN) shortcut where the shape changes, global average pooling and one linear layer.

Two stems:
- "imagenet": 7x7/2 conv + 3x3/2 max-pool, for ImageNet-size images (224..256 px);
- "cifar": one 3x3/1 conv and no pooling, the usual choice for 32x32 images (the paper's CIFAR-10 ResNet-18).
`width` scales every stage (64 is the published network); smaller widths give CPU-sized variants.
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError
from . import CLASSIFIERS
from .cnn import Normalize

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


def _bn_conv(cin, cout, k, stride=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout))


def _shortcut(cin, cout, stride):
    return nn.Identity() if stride == 1 and cin == cout else _bn_conv(cin, cout, 1, stride)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin, width, stride=1):
        super().__init__()
        cout = width * self.expansion
        self.body = nn.Sequential(_bn_conv(cin, width, 3, stride), nn.ReLU(inplace=True), _bn_conv(width, cout, 3))
        self.short = _shortcut(cin, cout, stride)

    def forward(self, x):
        return torch.relu(self.body(x) + self.short(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, width, stride=1):
        super().__init__()
        cout = width * self.expansion
        self.body = nn.Sequential(_bn_conv(cin, width, 1), nn.ReLU(inplace=True),
                                  _bn_conv(width, width, 3, stride), nn.ReLU(inplace=True),
                                  _bn_conv(width, cout, 1))
        self.short = _shortcut(cin, cout, stride)

    def forward(self, x):
        return torch.relu(self.body(x) + self.short(x))


class ResNet(nn.Module):
    def __init__(self, block, depths, num_classes=1000, stem="imagenet", width=64, mean=None, std=None):
        super().__init__()
        if stem not in ("imagenet", "cifar"):
            raise ConfigError(f"stem must be 'imagenet' or 'cifar', got {stem!r}")
        if mean is None:
            mean, std = (CIFAR_MEAN, CIFAR_STD) if stem == "cifar" else (IMAGENET_MEAN, IMAGENET_STD)
        self.norm = Normalize(mean, std)
        if stem == "cifar":
            self.stem = nn.Sequential(_bn_conv(3, width, 3), nn.ReLU(inplace=True))
        else:
            self.stem = nn.Sequential(nn.Conv2d(3, width, 7, 2, 3, bias=False), nn.BatchNorm2d(width),
                                      nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
        stages, cin = [], width
        for i, n in enumerate(depths):
            w = width * 2 ** i
            blocks = []
            for j in range(n):
                blocks.append(block(cin, w, 2 if (j == 0 and i > 0) else 1))
                cin = w * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        return self.head(self.pool(self.stages(self.stem(self.norm(x)))))


@CLASSIFIERS.register("resnet18")
def resnet18(num_classes: int = 10, stem: str = "cifar", width: int = 64, **kw):
    """ResNet-18; the default stem is the CIFAR one (32x32 inputs); stem="imagenet" for 224 px."""
    return ResNet(BasicBlock, (2, 2, 2, 2), num_classes, stem, width, **kw)


@CLASSIFIERS.register("resnet50")
def resnet50(num_classes: int = 1000, stem: str = "imagenet", width: int = 64, **kw):
    """ResNet-50 for ImageNet-size images (224..256 px)."""
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes, stem, width, **kw)
