"""Φ for a photo behind a resizing pipeline, at the resolution the classifier sees (format ric/4 only).

The whole-image Φ (ric.nae) spends each step on photo-sized tensors — tanh, the lock, the resize and its backward,
Adam's state — while the classifier sees 224×224. Where the pipeline shrinks the photo at least twice
(`ric.schemes.sealed.resized.applies`), this Φ optimises an offset δ on the pipeline's resized grid instead:

    n = clamp(n0 + U(δ), 0, 1)

n0 is the keyed start (uniform), U bilinear upsampling to the photo. Over the many photo pixels one grid pixel
stands for, n averages to n0 + shift(δ), shift(δ) = δ − sign(δ)·δ²/2 being the mean of what the clamp lets a uniform
n0 move (`clamped_shift`). Each view of the pipeline sees, to first order, its view of the start ciphertext
λ·n0 + (1 − λ)·0.5, computed once and exactly, plus λ·R_v(shift(δ)) with R_v the view's linear map (the sealed
scheme's: `views_of`). δ keeps zero means over blocks of `LOCK` grid pixels, so n keeps its start's block means.

δ is pushed BAND past the margin, then n is lifted to the photo and its margin measured exactly (Φ's own view,
every view of the pipeline); one that falls short is pushed BAND further and lifted again, up to LIFTS times, and
what still falls short is left to the whole-image Φ. Only format ric/4 uses it: its files carry n_adv, and a
decryptor never regenerates it (in memory, `RICCodec.regenerate` repeats it on the same machine).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ...classifiers.pipeline import WithPipeline
from ...lowpass import SIDE
from ..sealed.resized import lift_rounds, push_offsets, view_margins, views_of

BAND = 1.0     # how far past the margin δ is pushed before it is lifted
LR = 0.05      # Adam's step on δ (the sealed scheme's 0.2 of its 4 levels)
LIFTS = 3      # lifts tried, each after pushing δ BAND further
LOCK = SIDE    # δ's zero-mean blocks, in grid pixels


def clamped_shift(delta: torch.Tensor) -> torch.Tensor:
    """The mean of clamp(n0 + δ, 0, 1) − n0 over n0 uniform in [0, 1]: δ − sign(δ)·δ²/2 for |δ| ≤ 1."""
    d = delta.clamp(-1, 1)
    return d - d.sign() * d * d / 2


def phi_resized(clf: WithPipeline, n0: torch.Tensor, target: torch.Tensor, lam: float, margin: float,
                max_steps: int, exact_margin) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(n (N, 3, H, W), lifts (N,), steps (N,)) for starts n0 towards `target` ((N,) or (N, views)); lifts is the
    lift at which n's exact margin (`exact_margin(n)`, Φ's own measure) reached `margin`, 0 where none did (n is
    then the last lift: the caller goes on from it). `lam`: the ciphertext's share of n (Φ's view)."""
    grid = clf.pipeline.resized_size(*n0.shape[-2:])
    views = views_of(clf, lam * n0 + (1 - lam) * 0.5, grid)
    w = torch.zeros(len(n0), 3, *grid, device=n0.device, requires_grad=True)
    opt = torch.optim.Adam([w], lr=LR)

    @torch.no_grad()
    def lift(delta):
        n = (n0 + F.interpolate(delta, size=n0.shape[-2:], mode="bilinear", align_corners=False)).clamp(0, 1)
        return n, exact_margin(n) >= margin
    return lift_rounds(lambda r, lifted: _push(clf, views, w, opt, target, lifted, lam, margin + r * BAND, max_steps),
                       lift, len(n0), n0.device, LIFTS)


def _push(clf, views, w, opt, target, skip, lam: float, goal: float, max_steps: int):
    """`push_offsets` with the paper scheme's first-order margins: the clamp's mean shift, seen at the ciphertext's
    share λ."""
    def margins(delta):
        return view_margins(clf, views, clamped_shift(delta), lam, target)
    return push_offsets(margins, w, opt, skip, goal, max_steps, LOCK)


__all__ = ["phi_resized", "clamped_shift", "BAND", "LR", "LIFTS", "LOCK"]
