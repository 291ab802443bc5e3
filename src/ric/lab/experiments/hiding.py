"""Hiding models for the comparisons: the ablation's RIC without SRL, 4-bit LSB, and small re-implementations
in the spirit of DDH, HiNet and IICNet with an NAE as the container (paper §5.2). Every model has
encode(x, c) -> x' (before 8-bit quantisation) and decode(x'_q, c) -> x̃; the steganography models ignore c
when decoding (blind reveal, as in their papers); only RIC and its ablations use the regenerated NAE.
"""
from __future__ import annotations

import torch
from torch import nn

from ...io.tensors import to_float, to_uint8
from ...nets.blocks import MultiScale
from ...nets.ric import RICNet


class RICNoSRL(RICNet):
    """The ablation "NAE w/o SRL" (paper §5.5): x' = u_en (no blend with λ) and the decoder reads the
    concatenation (x'_q ‖ n_adv) instead of the subtraction (x'_q − λ n_adv)/(1 − λ). Everything else is the
    RIC configuration it is compared with: F, E and their options (n_adv shortcut, identity path x + E(...)),
    and the decoder's residual, which adds x'_q (the 3-channel part of its input) where RIC adds u'."""

    def __init__(self, **kw):
        super().__init__(**kw)
        width, depth, se = kw.get("width", 50), kw.get("depth", 4), kw.get("se_reduction", 2)
        self.D_body = MultiScale(6, width, depth, se)
        self.D_out = nn.Conv2d(self.D_body.out_channels, 3, 1)

    def encode(self, x, n_adv):
        return self.encoder_output(x, n_adv)

    def decode(self, xq, n_adv):
        out = self.D_out(self.D_body(torch.cat([xq, n_adv], 1)))
        return xq + out if self.decoder_residual else out


# ------------------------------------------------------------------------------------------------------ LSB

def lsb_embed(container_u8: torch.Tensor, secret_u8: torch.Tensor, bits: int = 4) -> torch.Tensor:
    """The container's top (8 - bits) bits and the secret's top `bits` bits in the low bits (uint8 tensors)."""
    keep = (0xFF << bits) & 0xFF
    return (container_u8 & keep) | (secret_u8 >> (8 - bits))


def lsb_extract(stego_u8: torch.Tensor, bits: int = 4, midpoint: bool = False) -> torch.Tensor:
    """The secret's top bits shifted back; `midpoint` adds 2^(7-bits), the middle of the range that was lost."""
    low = (stego_u8 & ((1 << bits) - 1)) << (8 - bits)
    return low | (1 << (7 - bits)) if midpoint else low


# ------------------------------------------------------------------------------------------- Haar, couplings

def haar(x: torch.Tensor) -> torch.Tensor:
    """Orthonormal 2-D Haar DWT: (N, C, H, W) -> (N, 4C, H/2, W/2), sub-bands [LL, LH, HL, HH] per channel."""
    a, b = x[:, :, 0::2, 0::2], x[:, :, 0::2, 1::2]
    c, d = x[:, :, 1::2, 0::2], x[:, :, 1::2, 1::2]
    ll, lh, hl, hh = (a + b + c + d) / 2, (a - b + c - d) / 2, (a + b - c - d) / 2, (a - b - c + d) / 2
    return torch.cat([ll, lh, hl, hh], 1)


def ihaar(y: torch.Tensor) -> torch.Tensor:
    ll, lh, hl, hh = y.chunk(4, 1)
    a, b = (ll + lh + hl + hh) / 2, (ll - lh + hl - hh) / 2
    c, d = (ll + lh - hl - hh) / 2, (ll - lh - hl + hh) / 2
    n, ch, h, w = ll.shape
    x = ll.new_empty(n, ch, 2 * h, 2 * w)
    x[:, :, 0::2, 0::2], x[:, :, 0::2, 1::2], x[:, :, 1::2, 0::2], x[:, :, 1::2, 1::2] = a, b, c, d
    return x


def _subnet(cin, cout, width):
    net = nn.Sequential(nn.Conv2d(cin, width, 3, padding=1), nn.LeakyReLU(0.2),
                        nn.Conv2d(width, width, 3, padding=1), nn.LeakyReLU(0.2),
                        nn.Conv2d(width, cout, 3, padding=1))
    nn.init.zeros_(net[-1].weight)  # every block starts as the identity map
    nn.init.zeros_(net[-1].bias)
    return net


class AffineCoupling(nn.Module):
    """An invertible block on a pair (h, s): h ← h + φ(s);  s ← s·exp(k·tanh(ρ(h))) + η(h)."""

    def __init__(self, ch_h: int, ch_s: int, width: int = 32, clamp: float = 1.0):
        super().__init__()
        self.phi = _subnet(ch_s, ch_h, width)
        self.rho, self.eta = _subnet(ch_h, ch_s, width), _subnet(ch_h, ch_s, width)
        self.clamp = clamp

    def _scale(self, h):
        return self.clamp * torch.tanh(self.rho(h))

    def forward(self, h, s):
        h = h + self.phi(s)
        s = s * torch.exp(self._scale(h)) + self.eta(h)
        return h, s

    def inverse(self, h, s):
        s = (s - self.eta(h)) * torch.exp(-self._scale(h))
        h = h - self.phi(s)
        return h, s


class HiNetStyle(nn.Module):
    """HiNet-like: Haar DWT of container and secret, a stack of affine couplings (container branch = host),
    inverse DWT of the host branch is the stego image; the secret branch's output r is discarded and the
    reveal runs the stack backwards from (stego, r = 0) (HiNet draws r from a Gaussian; 0 is its mean)."""

    def __init__(self, blocks: int = 4, width: int = 32):
        super().__init__()
        self.blocks = nn.ModuleList(AffineCoupling(12, 12, width) for _ in range(blocks))

    def encode(self, x, c):
        h, s = haar(c), haar(x)
        for b in self.blocks:
            h, s = b(h, s)
        return ihaar(h)

    def decode(self, xq, c=None):
        h, s = haar(xq), torch.zeros_like(haar(xq))
        for b in reversed(self.blocks):
            h, s = b.inverse(h, s)
        return ihaar(s)


class IICNetStyle(nn.Module):
    """IICNet-like invertible conversion: the two images are stacked and transformed as ONE tensor (Haar DWT of
    the 6-channel stack, couplings between alternating channel halves), the first half of the result (inverse
    DWT) is the combined image and the other half is dropped; at inversion a small non-invertible relaxation
    CNN predicts the dropped half from the combined image, then the stack is inverted and the secret taken."""

    def __init__(self, blocks: int = 4, width: int = 32):
        super().__init__()
        self.blocks = nn.ModuleList(AffineCoupling(12, 12, width) for _ in range(blocks))
        self.relax = nn.Sequential(nn.Conv2d(12, width, 3, padding=1), nn.LeakyReLU(0.2),
                                   nn.Conv2d(width, width, 3, padding=1), nn.LeakyReLU(0.2),
                                   nn.Conv2d(width, 12, 3, padding=1))

    def _forward(self, z):
        a, b = z.chunk(2, 1)
        for i, blk in enumerate(self.blocks):
            if i % 2:
                b, a = blk(b, a)
            else:
                a, b = blk(a, b)
        return a, b

    def _inverse(self, a, b):
        for i in reversed(range(len(self.blocks))):
            if i % 2:
                b, a = self.blocks[i].inverse(b, a)
            else:
                a, b = self.blocks[i].inverse(a, b)
        return torch.cat([a, b], 1)

    def _stack(self, x, c):
        # interleave the two images' sub-bands so both halves carry parts of both images
        hc, hx = haar(c), haar(x)
        return torch.cat([hc[:, :6], hx[:, :6], hc[:, 6:], hx[:, 6:]], 1)

    def _unstack(self, z):
        c1, x1, c2, x2 = z.split(6, 1)
        return ihaar(torch.cat([c1, c2], 1)), ihaar(torch.cat([x1, x2], 1))

    def encode(self, x, c):
        a, _ = self._forward(self._stack(x, c))
        self._last_dropped = _
        return ihaar(a)

    def decode(self, xq, c=None):
        a = haar(xq)
        _, x = self._unstack(self._inverse(a, self.relax(a)))
        return x


class DDHStyle(nn.Module):
    """Deep hiding in the style of DDH (Baluja's prep / hide / reveal networks): a prep CNN on the secret, a hiding
    CNN on (container ‖ prep features) that outputs a residual added to the container, and a blind reveal CNN."""

    def __init__(self, width: int = 32):
        super().__init__()
        def cnn(cin, cout, n=4):
            layers, c = [], cin
            for _ in range(n - 1):
                layers += [nn.Conv2d(c, width, 3, padding=1), nn.ReLU()]
                c = width
            return nn.Sequential(*layers, nn.Conv2d(c, cout, 3, padding=1))
        self.prep, self.hide, self.reveal = cnn(3, width, 3), cnn(3 + width, 3), cnn(3, 3, 5)

    def encode(self, x, c):
        return c + self.hide(torch.cat([c, self.prep(x)], 1))

    def decode(self, xq, c=None):
        return self.reveal(xq)


class LSBHider(nn.Module):
    """4-bit LSB as a model with the common interface (no parameters, no training)."""

    def __init__(self, bits: int = 4, midpoint: bool = False):
        super().__init__()
        self.bits, self.midpoint = bits, midpoint

    # through the 8-bit pixels (ric.io.tensors), back as contiguous (N, C, H, W) like every model's output
    def encode(self, x, c):
        return to_float(lsb_embed(to_uint8(c), to_uint8(x), self.bits), x.device).contiguous()

    def decode(self, xq, c=None):
        return to_float(lsb_extract(to_uint8(xq), self.bits, self.midpoint), xq.device).contiguous()
