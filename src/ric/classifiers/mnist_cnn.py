"""The paper's MNIST classifier: a plain CNN with 5 convolutional layers and 1 fully connected layer.

The paper (sec. 5.1.2) fixes only the layer counts, not the widths, so the layout here is ours:
conv-BN-ReLU layers of width 32, 32 | pool | 64, 64 | pool | 128, global average pooling and one linear
layer. Greyscale digits arrive as three identical channels (the data layer replicates them, see
`ric.datasets.arrays`), so the first convolution takes 3 channels like every RIC classifier.
"""
from __future__ import annotations

from torch import nn

from . import CLASSIFIERS
from .cnn import Normalize

MNIST_MEAN, MNIST_STD = (0.1307,) * 3, (0.3081,) * 3


def conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class PlainCNN(nn.Module):
    """Stacks of 3x3 conv-BN-ReLU layers; `stages` lists the widths of each stage, a 2x2 max-pool follows
    every stage but the last; then global average pooling and one linear layer."""

    def __init__(self, stages, num_classes: int = 10, mean=MNIST_MEAN, std=MNIST_STD):
        super().__init__()
        self.norm = Normalize(mean, std)
        layers, cin = [], 3
        for i, widths in enumerate(stages):
            for w in widths:
                layers.append(conv_bn_relu(cin, w))
                cin = w
            if i < len(stages) - 1:
                layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(cin, num_classes)

    def forward(self, x):
        return self.head(self.features(self.norm(x)))


@CLASSIFIERS.register("mnist_cnn")
def mnist_cnn(num_classes: int = 10, width: int = 32, **kw):
    """5 conv + 1 FC for 28x28 digits (widths w, w | 2w, 2w | 4w)."""
    w = width
    return PlainCNN([[w, w], [2 * w, 2 * w], [4 * w]], num_classes=num_classes, **kw)
