"""The coarse attack for a photo behind a resizing pipeline, run at the resolution the classifier sees.

Behind a pipeline that shrinks a photo s times (a 12 MP photo to 224: s ≈ 13.5), the whole-image attack
(`coarse_attack`) spends each step on whole-image tensors: the levels, the lock, the resize and its backward,
and Adam's state, for 36 million values, while the classifier sees 224×224. This attack optimises instead a level
offset δ on the pipeline's resized grid (h', w'):

    N = clamp(round(N0 + U(δ)), 0, 4)

N0 = 4 × the keyed noise, the start's levels before rounding: their fractions are uniform, so they dither δ, and
over the many photo pixels one grid pixel stands for N averages to N0 + U(δ), less what the clamp cuts
(`clamped_shift`, its known mean). U is bilinear upsampling to the photo. Each view v of the pipeline
(ric.classifiers.pipeline: the pipeline and its `views`) then sees, to first order, its view of the start
ciphertext (51·N0 + B)/255, computed once and exactly, plus (51/255)·R_v(clamped_shift(δ)), where R_v is the
upsampling followed by the view's antialiased resize and crop: a small linear map per axis (`_axis`). δ keeps
zero means over the lock's blocks (`lock` grid pixels, ric.lowpass), so N keeps the start's block means up to
rounding.

δ is pushed BAND past the margin, since lifting it costs a little (the rounding, the model's first order, the
resizer's own rounding); then N is lifted to the photo and its margin measured exactly under every view. An image
that falls short is pushed BAND further from where it was and lifted again, up to LIFTS times; what still falls
short goes on with the whole-image attack from its N (`lifts` 0 says which; the caller's job: at photo sizes each
of its steps costs the whole image), so every ciphertext meets the same margin, measured the same way.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ...classifiers.pipeline import WithPipeline
from ...lowpass import lowpass
from ...nae import margin_of
from .digits import BASE

MIN_SHRINK = 2.0      # used where the pipeline shrinks the image at least this much (else the whole-image attack)
BAND = 1.0            # how far past the margin δ is pushed before it is lifted to the photo
LR = 0.2              # Adam's step in levels
LIFTS = 3             # lifts tried, each after pushing δ BAND further, before the whole-image attack takes over


def applies(classifier, shape) -> bool:
    """Whether images of `shape` (…, H, W) are attacked at the pipeline's resolution: a classifier behind a
    pipeline that shrinks them at least MIN_SHRINK times."""
    return isinstance(classifier, WithPipeline) and min(shape[-2:]) >= MIN_SHRINK * classifier.pipeline.resize_shorter


def _up(n_grid: int, n_photo: int, device) -> torch.Tensor:
    """(n_photo, n_grid): along one axis, a grid field upsampled (bilinear) to the photo."""
    eye = torch.eye(n_grid, device=device)[None, None]                      # columns: the grid's basis vectors
    return F.interpolate(eye, size=(n_photo, n_grid), mode="bilinear", align_corners=False)[0, 0]


def _axis(up: torch.Tensor, n_view: int, interpolation: str) -> torch.Tensor:
    """(n_view, n_grid): the upsampled basis (`_up`) resized along the photo axis to the view's size with its
    antialiased filter — the linear map the classifier sees a grid offset through along one axis."""
    cols = up.T[None, None]                                                   # (1, 1, n_grid, n_photo)
    return F.interpolate(cols, size=(up.shape[1], n_view), mode=interpolation, antialias=True,
                         align_corners=False)[0, 0].T


def views_of(clf: WithPipeline, c: torch.Tensor, grid: tuple[int, int]):
    """Per view: (its normalised input for the photos c, the map from a grid field to what the view sees of it
    (`_axis` along each axis, then its crop), its std)."""
    h, w = c.shape[-2:]
    up_rows, up_cols = _up(grid[0], h, c.device), _up(grid[1], w, c.device)    # shared by every view
    out = []
    for p in clf.pipeline.variants():
        size = p.resized_size(h, w)
        top, left = (size[0] - p.crop) // 2, (size[1] - p.crop) // 2
        rows = _axis(up_rows, size[0], p.interpolation)[top:top + p.crop]
        cols = _axis(up_cols, size[1], p.interpolation)[left:left + p.crop]

        def field(d, rows=rows, cols=cols):
            return torch.einsum("ih,nchw,jw->ncij", rows, d, cols)
        with torch.no_grad():
            base = p(c)
        out.append((base, field, p._std.to(c.dtype)))
    return out


def clamped_shift(delta: torch.Tensor) -> torch.Tensor:
    """The mean of clamp(n0 + δ, 0, 4) − n0 over n0 uniform in [0, 4] (the keyed start's levels): δ − sign(δ)·δ²/8
    for |δ| ≤ 4 — how far the clamp lets a block's mean move."""
    d = delta.clamp(-4, 4)
    return d - d.sign() * d * d / 8


def view_margins(clf: WithPipeline, views, shift: torch.Tensor, scale: float, target: torch.Tensor) -> torch.Tensor:
    """The model's margins, to first order, for a grid field `shift` that moves what every view sees by
    `scale`·R_v(shift) (`views`: `views_of`)."""
    x = torch.stack([base + scale * field(shift) / std for base, field, std in views], 1)
    logits = clf.model(x.flatten(0, 1)).view(len(shift), len(views), -1)
    return margin_of(logits, target)


def _margins(clf: WithPipeline, views, delta: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return view_margins(clf, views, clamped_shift(delta), BASE / 255, target)


def coarse_attack_resized(clf: WithPipeline, fine: torch.Tensor, target: torch.Tensor, init: torch.Tensor,
                          margin: float, max_steps: int, lock: int):
    """(N uint8 (n, 3, H, W), lifts, steps): lifts (n,) is the lift at which N's exact margin reached `margin` under
    every view (1 … LIFTS), 0 where none did. `lock`: the lock's side in grid pixels (0: off)."""
    n0 = 4 * init         # unrounded: the keyed start's fractions dither δ, so round(n0 + δ) averages to n0 + δ
    grid = clf.pipeline.resized_size(*fine.shape[-2:])
    views = views_of(clf, (BASE * n0 + fine.float()) / 255, grid)
    w = torch.zeros(len(fine), 3, *grid, device=fine.device, requires_grad=True)
    opt = torch.optim.Adam([w], lr=LR)
    return lift_rounds(lambda r, lifted: _push(clf, views, w, opt, target, lifted, margin + r * BAND, max_steps, lock),
                       lambda delta: _lift(clf, n0, delta, fine, target, margin), len(fine), fine.device, LIFTS)


def lift_rounds(push, lift, count: int, device, rounds: int):
    """(the photo-sized result, lifts, steps) of up to `rounds` lifts of grid offsets for `count` images. Round r:
    `push(r, lifted)` -> (δ, steps per image) pushes every image not yet lifted further past the margin (from where
    the last round left it); `lift(δ)` -> (result, ok) makes the photo-sized result and says where its exact margin
    holds. Each image keeps the result of the first round that lifted it (`lifts`: that round, 0 for none), and an
    image no round lifted keeps the last round's, for the caller's whole-image attack to go on from."""
    lifted = torch.zeros(count, dtype=torch.bool, device=device)
    lifts = torch.zeros(count, dtype=torch.long)
    steps = torch.zeros(count, dtype=torch.long)
    out = None
    for r in range(1, rounds + 1):
        delta, took = push(r, lifted)
        steps += took
        got, ok = lift(delta)
        if out is None:
            out = got.clone()
        else:
            out[~lifted] = got[~lifted]
        new = ok.to(device) & ~lifted
        lifts[new.cpu()] = r
        lifted |= new
        if bool(lifted.all()):
            break
    return out, lifts, steps


def _push(clf, views, w, opt, target, skip, goal: float, max_steps: int, lock: int):
    """`push_offsets` with this scheme's first-order margins."""
    return push_offsets(lambda delta: _margins(clf, views, delta, target), w, opt, skip, goal, max_steps, lock)


def push_offsets(margins, w, opt, skip, goal: float, max_steps: int, lock: int):
    """Adam on the offsets `w` until every image not in `skip` has `margins(offsets)` at least `goal`, or max_steps.
    Returns (the zero-mean offsets reached, steps taken per image)."""
    done = skip.clone()
    steps = torch.full((len(w),), max_steps, dtype=torch.long)
    steps[skip.cpu()] = 0
    best = torch.zeros_like(w)
    for step in range(max_steps + 1):
        delta = zero_mean_offset(w, lock)
        m = margins(delta)
        hit = (m.detach() >= goal) & ~done
        best[hit] = delta.detach()[hit]
        steps[hit.cpu()] = step
        done |= hit
        if bool(done.all()) or step == max_steps:
            break
        loss = (torch.clamp(-m, min=-goal) * (~done)).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    best[~done] = zero_mean_offset(w, lock).detach()[~done]
    return best, steps


def zero_mean_offset(w: torch.Tensor, lock: int) -> torch.Tensor:
    """The offsets with zero means over the lock's blocks."""
    return w - lowpass(w, lock) if lock else w


@torch.no_grad()
def _lift(clf: WithPipeline, n0: torch.Tensor, delta: torch.Tensor, fine: torch.Tensor, target: torch.Tensor,
          margin: float):
    """N on the photo for grid offsets δ, and whether its exact margin (every view, the pipeline's own resizer)
    reaches `margin`."""
    up = F.interpolate(delta, size=fine.shape[-2:], mode="bilinear", align_corners=False)
    lev = (n0 + up).round().clamp(0, 4)
    logits = clf.attack_module()((BASE * lev + fine.float()) / 255)
    return lev.to(torch.uint8), margin_of(logits if logits.dim() == 3 else logits[:, None], target) >= margin
