"""The coarse part N: a 5-level adversarial image that keeps C((51·N + B)/255) = ŷ for the real fine digits B."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from ...batching import in_batches
from ...lowpass import locked
from ...nae import margin_of
from .digits import BASE

# the ciphertext is (51·N + B) / 255 with N in 0..4 and B roughly uniform in 0..50: the classifier sees the coarse
# levels N / 4 at contrast 51·4/255 = 0.8 around a grey of about 0.1 — the view class starts are fitted for (λ = 0.8)
COARSE_VIEW = BASE * 4 / 255


# -- the coarse adversarial part -------------------------------------------------------------------
@dataclass(frozen=True)
class SealedConfig:
    lr: float = 0.1
    max_steps: int = 300
    margin: float = 5.0
    payload_samples: int = 1      # the real payload plus random ones, per step (expectation over payloads); 1: the
    #   real one alone — the label check on the written ciphertext retries the rare miss (0 retries in 256 CIFAR-10
    #   and 256 MNIST test images, 3.9x / 3.3x faster than 4 draws: docs/results.md, "Sealed scheme at 32x32")
    max_retries: int = 4
    lock: int = 8                 # low-frequency lock (ric.lowpass): the mean of N over every `lock`×`lock` block
    #   (pixels as the classifier sees them) stays that of the keyed start: no two ciphertexts share a large
    #   pattern; 0 = off


def _ste_round(v: torch.Tensor) -> torch.Tensor:
    return v + (torch.round(v) - v).detach()


def _margins(classifier, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Margins of images x for `target`, the classifier run in cache-sized channels-last batches (ric.batching);
    autograd keeps one graph per batch, so the backward pass runs in those batches too."""
    return in_batches(lambda xb, tb: margin_of(classifier(xb), tb), x, target)


def _levels(w: torch.Tensor, ref: torch.Tensor, lock: int) -> torch.Tensor:
    """The 5 levels (straight-through rounded) of tanh-space `w`, with their block means locked to `ref`'s (both
    on the 0..4 scale) when `lock` > 0."""
    v = 2 * (torch.tanh(w) + 1)
    if lock:
        v = locked(v, ref, lock).clamp(0, 4)
    return _ste_round(v)


def _levels_margins(classifier, w: torch.Tensor, ref: torch.Tensor, lock: int, b: torch.Tensor,
                    target: torch.Tensor):
    """The 5 levels of tanh-space `w` (a, C, H, W) and the margins (a, k) of the ciphertexts they make with each of
    the k payloads in b (a, k, C, H, W)."""
    lev = _levels(w, ref, lock)                                        # (a, C, H, W) in {0..4}
    c = (BASE * lev[:, None] + b) / 255
    return lev, _margins(classifier, c.flatten(0, 1), target.repeat_interleave(b.shape[1], 0)).view(len(w), -1)


def _rows(ref: torch.Tensor | None, act: torch.Tensor) -> torch.Tensor | None:
    return None if ref is None else ref[act]


def coarse_attack(classifier, fine: torch.Tensor, target: torch.Tensor, init: torch.Tensor,
                  cfg: SealedConfig, gen: torch.Generator, step0: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """N (uint8 0..4, shape like fine) such that C((51N + B)/255) = target for the real B = `fine` (`target` (n,),
    or (n, V) for a classifier that gives logits under V views: one label per view). `step0`: step 0
    runs forward only first, and again with autograd for the images that did not start past the margin — it pays
    where most do (class starts at the size they were fitted at).

    Returns (N, success, steps): success means the real payload reached the margin and random payloads kept
    the label; steps is the step at which that happened (max_steps when it did not)."""
    n, k = len(fine), cfg.payload_samples
    w = torch.atanh((init * 2 - 1).clamp(-0.999, 0.999)).detach().requires_grad_(True)
    ref = 4 * init if cfg.lock else None
    opt = torch.optim.Adam([w], lr=cfg.lr)
    best = _levels(w.detach(), ref, cfg.lock)
    done = torch.zeros(n, dtype=torch.bool, device=fine.device)
    steps = torch.full((n,), cfg.max_steps, dtype=torch.long)
    for step in range(cfg.max_steps + 1):
        act = (~done).nonzero().squeeze(1)          # finished images leave the batch (no determinism needed)
        rand = torch.randint(0, BASE, (len(act), k - 1, *fine.shape[1:]), generator=gen,   # uint8: the same draws
                             dtype=torch.uint8).to(fine.device).float()
        b = torch.cat([fine[act, None].float(), rand], 1)              # real payload first
        with torch.no_grad() if step == 0 and step0 else contextlib.nullcontext():   # step 0: forward only first
            lev, m = _levels_margins(classifier, w[act], _rows(ref, act), cfg.lock, b, target[act])
        ok = (m[:, 0] >= cfg.margin) & (m[:, 1:] > 0).all(1)
        if ok.any():
            idx = act[ok]
            best[idx] = lev.detach()[ok]
            steps[idx.cpu()] = step
            done[idx] = True
        if bool(done.all()) or step == cfg.max_steps:
            break
        if step == 0 and step0:   # those past the margin at the start need no backward; the others run again
            act, b = act[~ok], b[~ok]
            _, m = _levels_margins(classifier, w[act], _rows(ref, act), cfg.lock, b, target[act])
        loss = torch.clamp(-m, min=-cfg.margin).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    best[~done] = _levels(w.detach(), ref, cfg.lock)[~done]
    return best.to(torch.uint8), done, steps
