"""F, E and D of a RICNet evaluated tile by tile, with the same result as on the whole image.

The networks are convolutional except for their squeeze-excitation gates, which scale each head's channels by a
function of that head's mean over the whole image. So a tiled pass runs in stages: first the means that each gate
needs are summed over tiles, then the output is computed tile by tile with every gate fixed.

D (run by the encryptor and every decryptor, whose roundings must agree): one pass for its gates, a second for the
output, recomputing D inside each crop; memory is one crop's activations, and the result equals the untiled one up
to float summation order. F and E (run once, by the encryptor): each block's pre-gate head outputs are kept over the
image between passes (`cache`: float16 by default, 2 bytes per channel and pixel), so each block is computed once —
F, then E from F's gated cache, then E's 1×1 output layer from E's gated cache — instead of F three times and E
twice. F's rows are freed as E's tiles move past them, so about one cache is held at a time. float16 moves u_en by
about 1e-3 of a level; float32 keeps the untiled result up to summation order (tests/nets/test_net_tiling.py).
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
    """encoder_output / decoder_output of `model` (a RICNet) in tiles of side `tile` with the needed halo; `cache`:
    the dtype of the encoder's whole-image caches (module docstring)."""

    def __init__(self, model, tile: int = DEFAULT_TILE, cache: torch.dtype = torch.float16):
        self.model, self.tile, self.cache = model, int(tile), cache
        self.rf, self.re, self.rd = (multiscale_reach(m) for m in (model.F, model.E_body, model.D_body))

    def _sum_heads(self, ms, x_fn, h: int, w: int, halo: int) -> list[torch.Tensor]:
        """Each head's activations of block `ms` summed over the image; x_fn(crop) gives its input on a crop."""
        sums = None
        for t in plan(h, w, self.tile, halo):
            ys = [y[(..., *t.inner)].sum((2, 3)) for y in _pre_gate(ms, x_fn(t.crop))]
            sums = ys if sums is None else [a + b for a, b in zip(sums, ys)]
        return sums

    def _cached_heads(self, ms, x_fn, like: torch.Tensor, halo: int, release=None) -> tuple["_Strips", torch.Tensor]:
        """(cache, gates): block `ms`'s pre-gate head outputs over the whole image, in `self.cache`, and its gates as
        one (N, channels, 1, 1) tensor (the gates of its heads side by side, in the heads' channel order).
        `release(row)`: called after each tile with the first input row its crop read (no later crop reads above)."""
        h, w = like.shape[2:]
        cache = _Strips(like, ms.out_channels, self.cache, plan(h, w, self.tile, 0))
        sums = None
        for t in plan(h, w, self.tile, halo):
            ys = [y[(..., *t.inner)] for y in _pre_gate(ms, x_fn(t.crop))]
            cache.write(t.out, torch.cat(ys, 1))
            part = [y.sum((2, 3)) for y in ys]
            sums = part if sums is None else [a + b for a, b in zip(sums, part)]
            if release is not None:
                release(t.crop[0].start)
        return cache, torch.cat(_gates(ms, sums, h * w), 1)

    @torch.inference_mode()
    def encoder_output(self, x: torch.Tensor, n_adv: torch.Tensor) -> torch.Tensor:
        m = self.model
        f_cache, gf = self._cached_heads(m.F, lambda c: x[(..., *c)], x, self.rf)

        def e_in(c):
            return torch.cat([f_cache.read(c).to(x.dtype) * gf, n_adv[(..., *c)]], 1)
        # F's rows are freed as E's crops move past them: at most one cache and a few strips at a time
        e_cache, ge = self._cached_heads(m.E_body, e_in, x, self.re, f_cache.release_above)
        out = torch.empty_like(x)
        for t in plan(*x.shape[2:], self.tile, 0):       # E's output layer is 1×1: no halo
            u = m.E_out(e_cache.read(t.out).to(x.dtype) * ge)
            e_cache.release_above(t.out[0].start)
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


class _Strips:
    """A whole-image tensor (N, C, H, W) held as the row strips of a tile plan (each strip one row of tiles), so
    that strips no longer needed can be freed while the rest is still read."""

    def __init__(self, like: torch.Tensor, channels: int, dtype: torch.dtype, tiles):
        self.bounds = list(dict.fromkeys((t.out[0].start, t.out[0].stop) for t in tiles))
        self.parts = [torch.empty((like.shape[0], channels, b - a, like.shape[-1]), dtype=dtype, device=like.device,
                                  memory_format=torch.channels_last) for a, b in self.bounds]

    def write(self, where: tuple[slice, slice], value: torch.Tensor) -> None:
        """Store `value` at rows/cols `where`, which lie in one strip (a tile's interior)."""
        rows, cols = where
        i = next(i for i, (a, b) in enumerate(self.bounds) if a <= rows.start < b)
        a = self.bounds[i][0]
        self.parts[i][..., rows.start - a:rows.stop - a, cols] = value

    def read(self, where: tuple[slice, slice]) -> torch.Tensor:
        """Rows/cols `where` (a crop: it may span strips); a freed strip cannot be read (TypeError)."""
        rows, cols = where
        pieces = [p[..., max(a, rows.start) - a:min(b, rows.stop) - a, cols]
                  for (a, b), p in zip(self.bounds, self.parts) if max(a, rows.start) < min(b, rows.stop)]
        return pieces[0] if len(pieces) == 1 else torch.cat(pieces, 2)

    def release_above(self, row: int) -> None:
        """Free the strips that end at or above `row`."""
        self.parts = [None if b <= row else p for (a, b), p in zip(self.bounds, self.parts)]


__all__ = ["TiledRIC", "multiscale_reach"]
