"""A FaceNet-style face-identity classifier: Inception-ResNet-v1 trunk, 512-d embedding, linear head.

Trunk written from Szegedy et al., "Inception-v4, Inception-ResNet and the Impact of Residual Connections
on Learning" (2016), figures 14 (stem), 10 (Inception-ResNet-A, x5), 7 (Reduction-A with k=192, l=192,
m=256, n=384), 11 (Inception-ResNet-B, x10), 12 (Reduction-B), 13 (Inception-ResNet-C, x5); the residual
branches are scaled (0.17, 0.10, 0.20) before the sum, and the last C block has no ReLU. As in FaceNet
(Schroff et al. 2015) the pooled 1792-d features go through dropout and a bias-free linear layer with batch
norm to a 512-d embedding; `embed(x)` returns it L2-normalised, `forward(x)` returns class logits from a
linear layer on the embedding (the paper's "FaceNet with a linear classification layer").

Sizes: at 160x160 (the paper's VGGFace2 size) the grids are 17x17 after the stem, 8x8 after Reduction-A and
3x3 after Reduction-B. The stride-2 "valid" layers need about 75 px; `pad=True` pads every layer ("same")
so that small faces (e.g. 64x64 CelebA crops: 8, 4, 2) work too (same parameters, different grids).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as Fn

from . import CLASSIFIERS
from .cnn import Normalize


class ConvBN(nn.Sequential):
    def __init__(self, cin, cout, k, stride=1, padding=0):
        super().__init__(nn.Conv2d(cin, cout, k, stride, padding, bias=False),
                         nn.BatchNorm2d(cout, eps=1e-3), nn.ReLU(inplace=True))


def _same(k):
    return (k[0] // 2, k[1] // 2) if isinstance(k, tuple) else k // 2


def _chain(cin, specs):
    """1-stride "same" conv chain: specs = [(cout, kernel), ...]."""
    layers = []
    for cout, k in specs:
        layers.append(ConvBN(cin, cout, k, padding=_same(k)))
        cin = cout
    return nn.Sequential(*layers)


class Residual(nn.Module):
    """x + scale * W[branch_1(x) | ... | branch_n(x)], W a 1x1 conv with bias; ReLU unless last."""

    def __init__(self, channels, branches, scale, relu=True):
        super().__init__()
        self.branches = nn.ModuleList(_chain(channels, b) for b in branches)
        self.up = nn.Conv2d(sum(b[-1][0] for b in branches), channels, 1)
        self.scale, self.relu = scale, relu

    def forward(self, x):
        y = x + self.scale * self.up(torch.cat([b(x) for b in self.branches], 1))
        return torch.relu(y) if self.relu else y


def block_a(c=256):
    return Residual(c, [[(32, 1)], [(32, 1), (32, 3)], [(32, 1), (32, 3), (32, 3)]], 0.17)


def block_b(c=896):
    return Residual(c, [[(128, 1)], [(128, 1), (128, (1, 7)), (128, (7, 1))]], 0.10)


def block_c(c=1792, relu=True):
    return Residual(c, [[(192, 1)], [(192, 1), (192, (1, 3)), (192, (3, 1))]], 0.20, relu)


class Reduction(nn.Module):
    """Parallel stride-2 branches and a stride-2 max-pool, concatenated. Each branch: "same" 1x1/3x3
    convs (specs) followed by one stride-2 3x3 conv."""

    def __init__(self, cin, branches, pad):
        super().__init__()
        p = 1 if pad else 0
        self.pool = nn.MaxPool2d(3, 2, p)
        self.branches = nn.ModuleList()
        for specs, cout in branches:
            pre = _chain(cin, specs)
            c = specs[-1][0] if specs else cin
            self.branches.append(nn.Sequential(*pre, ConvBN(c, cout, 3, 2, p)))

    def forward(self, x):
        return torch.cat([b(x) for b in self.branches] + [self.pool(x)], 1)


class InceptionResNetV1(nn.Module):
    def __init__(self, num_classes=8631, embedding_dim=512, dropout=0.2, pad=False,
                 mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)):
        super().__init__()
        p = 1 if pad else 0
        self.norm = Normalize(mean, std)
        self.stem = nn.Sequential(
            ConvBN(3, 32, 3, 2, p), ConvBN(32, 32, 3, 1, p), ConvBN(32, 64, 3, 1, 1), nn.MaxPool2d(3, 2, p),
            ConvBN(64, 80, 1), ConvBN(80, 192, 3, 1, p), ConvBN(192, 256, 3, 2, p))
        self.blocks_a = nn.Sequential(*[block_a() for _ in range(5)])
        self.reduction_a = Reduction(256, [([], 384), ([(192, 1), (192, 3)], 256)], pad)        # -> 896
        self.blocks_b = nn.Sequential(*[block_b() for _ in range(10)])
        self.reduction_b = Reduction(896, [([(256, 1)], 384), ([(256, 1)], 256),
                                           ([(256, 1), (256, 3)], 256)], pad)                    # -> 1792
        self.blocks_c = nn.Sequential(*[block_c(relu=i < 4) for i in range(5)])
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout))
        self.bottleneck = nn.Linear(1792, embedding_dim, bias=False)
        self.bottleneck_bn = nn.BatchNorm1d(embedding_dim, eps=1e-3)
        self.head = nn.Linear(embedding_dim, num_classes)

    def features(self, x):
        x = self.blocks_a(self.stem(self.norm(x)))
        x = self.blocks_b(self.reduction_a(x))
        return self.blocks_c(self.reduction_b(x))

    def embedding(self, x):
        return self.bottleneck_bn(self.bottleneck(self.pool(self.features(x))))

    @torch.no_grad()
    def embed(self, x):
        """L2-normalised face embeddings (N, embedding_dim), FaceNet style."""
        return Fn.normalize(self.embedding(x), dim=1)

    def forward(self, x):
        return self.head(self.embedding(x))


@CLASSIFIERS.register("inception_resnet_v1")
def inception_resnet_v1(num_classes: int = 8631, **kw):
    """FaceNet-style Inception-ResNet-v1 with a linear identity head (160x160 faces; pad=True for small ones)."""
    return InceptionResNetV1(num_classes=num_classes, **kw)
