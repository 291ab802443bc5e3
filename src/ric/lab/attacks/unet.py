"""A small U-Net (two poolings, skip connections) mapping a 3-channel image to a 3-channel image in [0, 1].

Used by the known-plaintext attack (the paper's choice for low-shot learning) and the inversion attack.
Sizes must be divisible by 4.
"""
from __future__ import annotations

import torch
from torch import nn


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class UNet(nn.Module):
    def __init__(self, width: int = 32, channels: int = 3):
        super().__init__()
        w = width
        self.e1, self.e2, self.mid = _block(channels, w), _block(w, 2 * w), _block(2 * w, 4 * w)
        self.pool = nn.MaxPool2d(2)
        self.u2 = nn.ConvTranspose2d(4 * w, 2 * w, 2, stride=2)
        self.d2 = _block(4 * w, 2 * w)
        self.u1 = nn.ConvTranspose2d(2 * w, w, 2, stride=2)
        self.d1 = _block(2 * w, w)
        self.out = nn.Conv2d(w, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(f"UNet needs sides divisible by 4, got {tuple(x.shape[-2:])}")
        a = self.e1(x - 0.5)
        b = self.e2(self.pool(a))
        m = self.mid(self.pool(b))
        b = self.d2(torch.cat([self.u2(m), b], 1))
        a = self.d1(torch.cat([self.u1(b), a], 1))
        return torch.sigmoid(self.out(a))
