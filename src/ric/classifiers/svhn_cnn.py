"""The paper's SVHN classifier: a plain CNN with 7 convolutional layers and 1 fully connected layer.

The paper (sec. 5.1.2) fixes only the layer counts; the widths here are ours: 3x3 conv-BN-ReLU layers
32, 32 | pool | 64, 64 | pool | 128, 128 | pool | 256, global average pooling, one linear layer.
Built from the same `PlainCNN` as the MNIST network.
"""
from __future__ import annotations

from . import CLASSIFIERS
from .mnist_cnn import PlainCNN

SVHN_MEAN, SVHN_STD = (0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970)


@CLASSIFIERS.register("svhn_cnn")
def svhn_cnn(num_classes: int = 10, width: int = 32, **kw):
    """7 conv + 1 FC for 32x32 colour digits (widths w, w | 2w, 2w | 4w, 4w | 8w)."""
    w = width
    kw.setdefault("mean", SVHN_MEAN)
    kw.setdefault("std", SVHN_STD)
    return PlainCNN([[w, w], [2 * w, 2 * w], [4 * w, 4 * w], [8 * w]], num_classes=num_classes, **kw)
