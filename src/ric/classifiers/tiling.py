"""A classifier of the form head(mean over positions of body(x)), with a local body, evaluated tile by tile.

Φ and the sealed scheme's coarse attack need the classifier's gradient with respect to a whole image; at photo
sizes its activations alone take tens of GB (1.8 KiB per pixel for the shipped `small_resnet`). The global average
pool makes the work separable: the pooled features are the sum over tiles of each tile's body output (computed on
a crop with a halo as wide as the body's reach), and the gradient with respect to the image is the sum over tiles
of each crop's gradient, recomputed one tile at a time in backward. Memory is one crop's activations; the result
equals the untiled one up to float summation order (tests/classifiers/test_classifier_tiling.py).

`local_parts` says which classifiers qualify: those of the package's two forms (`_split`) whose head is one linear
layer and whose layers are convolutions, pools, pointwise layers or residual blocks with a `body` (and `short`).
Others are not tiled (the file engine refuses what does not fit, as before).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..tiles import plan, round_up

_POINTWISE = (nn.BatchNorm2d, nn.ReLU, nn.ReLU6, nn.Identity, nn.Dropout, nn.SiLU, nn.GELU, nn.LeakyReLU, nn.Hardswish)


@dataclass(frozen=True)
class LocalParts:
    body: nn.Module      # images -> feature maps, local
    head: nn.Module      # pooled features (N, C) -> logits
    stride: int          # feature map = image downsampled by this
    reach: int           # an output position depends on input pixels within this many pixels of its footprint


def _reach(m: nn.Module, jump: int) -> tuple[int, int]:
    """(reach added, jump after) of a module run in sequence, jump = input pixels per position at its input."""
    if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
        k, s, p, d = (v if isinstance(v, int) else v[0]
                      for v in (m.kernel_size, m.stride, m.padding, getattr(m, "dilation", 1)))
        return max(p, (k - 1) * d - p) * jump, jump * s
    if isinstance(m, nn.Sequential):
        total = 0
        for c in m:
            r, jump = _reach(c, jump)
            total += r
        return total, jump
    if hasattr(m, "body") and isinstance(m.body, nn.Module):        # a residual block: the body reaches furthest
        r, j = _reach(m.body, jump)
        short = getattr(m, "short", None)
        if short is not None:
            r2, j2 = _reach(short, jump)
            if j2 != j:
                raise TypeError("a residual block whose branches have different strides")
            r = max(r, r2)
        return r, j
    if isinstance(m, _POINTWISE) or type(m).__name__ == "Normalize":
        return 0, jump
    raise TypeError(f"cannot tell how far {type(m).__name__} reaches")


def _pooled(seq) -> bool:
    """Whether `seq` ends in a global average pool and a flatten."""
    return (isinstance(seq, nn.Sequential) and len(seq) >= 2 and isinstance(seq[-2], nn.AdaptiveAvgPool2d)
            and seq[-2].output_size in (1, (1, 1)) and isinstance(seq[-1], nn.Flatten))


def _split(classifier: nn.Module) -> list[nn.Module] | None:
    """The local layers of the two forms the package's classifiers have: norm → features[:-2] (features ending
    in the pool: classifiers.cnn) or norm → stem → stages with a separate pool (classifiers.resnet)."""
    norm = getattr(classifier, "norm", None)
    pre = [norm] if isinstance(norm, nn.Module) else []
    feats = getattr(classifier, "features", None)
    if _pooled(feats) and len(feats) > 2:
        return pre + list(feats[:-2])
    stem, stages = getattr(classifier, "stem", None), getattr(classifier, "stages", None)
    if isinstance(stem, nn.Module) and isinstance(stages, nn.Module) and _pooled(getattr(classifier, "pool", None)):
        return pre + [stem, stages]
    return None


def local_parts(classifier: nn.Module) -> LocalParts | None:
    """The classifier as body / head with its stride and reach, or None when it does not have that form."""
    layers, head = _split(classifier), getattr(classifier, "head", None)
    if layers is None or not isinstance(head, nn.Linear):
        return None
    body = nn.Sequential(*layers)
    try:
        reach, stride = _reach(body, 1)
    except TypeError:
        return None
    return LocalParts(body, head, stride, reach)


class _TiledMeanPool(torch.autograd.Function):
    """mean over positions of body(x), (N, C), computed and differentiated one crop of one image at a time (so
    memory is one crop's activations whatever the batch, and no image's bits depend on its neighbours)."""

    @staticmethod
    def forward(ctx, x, parts: LocalParts, tile: int):
        tiles = _tiles(x, parts, tile)
        total, count = None, 0
        with torch.no_grad():
            for t in tiles:
                f = torch.cat([parts.body(x[i:i + 1, :, t.crop[0], t.crop[1]])[(..., *t.inner)]
                               for i in range(len(x))])
                s = f.sum((2, 3))
                total = s if total is None else total + s
                count += f.shape[2] * f.shape[3]
        ctx.save_for_backward(x)
        ctx.parts, ctx.tiles, ctx.count = parts, tiles, count
        return total / count

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        gx = torch.zeros_like(x)
        g = g / ctx.count
        for t in ctx.tiles:
            for i in range(len(x)):
                with torch.enable_grad():
                    xc = x[i:i + 1, :, t.crop[0], t.crop[1]].detach().requires_grad_(True)
                    f = ctx.parts.body(xc)[(..., *t.inner)]
                    (gc,) = torch.autograd.grad(f, xc, g[i:i + 1, :, None, None].expand_as(f))
                gx[i:i + 1, :, t.crop[0], t.crop[1]] += gc
        return gx, None, None


def _tiles(x: torch.Tensor, parts: LocalParts, tile: int):
    halo = round_up(parts.reach + parts.stride, parts.stride)
    return plan(x.shape[2], x.shape[3], round_up(tile, parts.stride), halo, parts.stride)


class TiledClassifier(nn.Module):
    """`classifier`, evaluated in tiles of side `tile` (logits and their gradient with respect to the input)."""

    def __init__(self, classifier: nn.Module, tile: int):
        super().__init__()
        parts = local_parts(classifier)
        if parts is None:
            raise TypeError(f"{type(classifier).__name__} is not of the form head(mean(local body)); not tileable")
        self.classifier, self.parts, self.tile = classifier, parts, int(tile)
        self.train(classifier.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.parts.head(_TiledMeanPool.apply(x, self.parts, self.tile))


def tileable(classifier: nn.Module) -> bool:
    return local_parts(classifier) is not None


__all__ = ["LocalParts", "local_parts", "TiledClassifier", "tileable"]
