"""F, E and D of a RICNet evaluated tile by tile, with the same result as on the whole image.

The networks are convolutional except for their squeeze-excitation gates, which scale each head's channels by a
function of that head's mean over the whole image. So a tiled pass runs in stages: first the means that each gate
needs are summed over tiles (recomputing what comes before them inside each crop), then the output is computed
tile by tile with every gate fixed. F's gates take one pass, E's a second, the output a third (D: one, then the
output). Memory is one crop's activations; results equal the untiled ones up to float summation order
(tests/nets/test_net_tiling.py).
"""
from __future__ import annotations

import torch
from torch import nn

from ..tiles import DEFAULT_TILE, plan
from .blocks import MultiScale


def _layer_reach(m: nn.Conv2d) -> int:
    k, p = m.kernel_size[0], m.padding[0]
    return max(p, k - 1 - p)


def multiscale_reach(ms: MultiScale) -> int:
    """How far (in pixels) an output of a MultiScale block looks: its widest branch plus its widest head."""
    def stack(seq):
        return sum(_layer_reach(c) for c in seq.modules() if isinstance(c, nn.Conv2d) and c.kernel_size[0] > 1)
    return max(stack(b) for b in ms.branches) + max(stack(h[0]) for h in ms.heads)


def _pre_gate(ms: MultiScale, x: torch.Tensor) -> list[torch.Tensor]:
    h = torch.cat([b(x) for b in ms.branches], 1)
    return [hd[0](h) for hd in ms.heads]


def _gated(ms: MultiScale, x: torch.Tensor, gates: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([y * g for y, g in zip(_pre_gate(ms, x), gates)], 1)


def _gates(ms: MultiScale, sums: list[torch.Tensor], count: int) -> list[torch.Tensor]:
    """The SE gates from each head's summed activations: SqueezeExcite.fc after its pooling layer."""
    return [hd[1].fc[1:]((s / count)[:, :, None, None]) for hd, s in zip(ms.heads, sums)]


class TiledRIC:
    """encoder_output / decoder_output of `model` (a RICNet) in tiles of side `tile` with the needed halo."""

    def __init__(self, model, tile: int = DEFAULT_TILE):
        self.model, self.tile = model, int(tile)
        self.rf, self.re, self.rd = (multiscale_reach(m) for m in (model.F, model.E_body, model.D_body))

    def _sum_heads(self, ms, x_fn, h: int, w: int, halo: int) -> list[torch.Tensor]:
        """Each head's activations of block `ms` summed over the image; x_fn(crop) gives its input on a crop."""
        sums = None
        for t in plan(h, w, self.tile, halo):
            ys = [y[(..., *t.inner)].sum((2, 3)) for y in _pre_gate(ms, x_fn(t.crop))]
            sums = ys if sums is None else [a + b for a, b in zip(sums, ys)]
        return sums

    @torch.inference_mode()
    def encoder_output(self, x: torch.Tensor, n_adv: torch.Tensor) -> torch.Tensor:
        m, (h, w) = self.model, x.shape[2:]
        gf = _gates(m.F, self._sum_heads(m.F, lambda c: x[(..., *c)], h, w, self.rf), h * w)

        def e_in(c):
            return torch.cat([_gated(m.F, x[(..., *c)], gf), n_adv[(..., *c)]], 1)
        ge = _gates(m.E_body, self._sum_heads(m.E_body, e_in, h, w, self.rf + self.re), h * w)
        out = torch.empty_like(x)
        for t in plan(h, w, self.tile, self.rf + self.re):
            u = m.E_out(_gated(m.E_body, e_in(t.crop), ge))[(..., *t.inner)]
            if m.shortcut:
                u = u + n_adv[(..., *t.out)]
            if m.encoder_skip:
                u = u + x[(..., *t.out)]
            out[(..., *t.out)] = u
        return out

    @torch.inference_mode()
    def decoder_output(self, u: torch.Tensor) -> torch.Tensor:
        m, (h, w) = self.model, u.shape[2:]
        gd = _gates(m.D_body, self._sum_heads(m.D_body, lambda c: u[(..., *c)], h, w, self.rd), h * w)
        out = torch.empty_like(u)
        for t in plan(h, w, self.tile, self.rd):
            y = m.D_out(_gated(m.D_body, u[(..., *t.crop)], gd))[(..., *t.inner)]
            out[(..., *t.out)] = u[(..., *t.out)] + y if m.decoder_residual else y
        return out


__all__ = ["TiledRIC", "multiscale_reach"]
