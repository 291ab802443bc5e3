"""Φ: the noise-like adversarial example (paper eqs. 2-4), deterministic and batched.

A targeted margin-loss (C&W f) attack solved with Adam from the keyed noise image, kept in [0, 1] by the
tanh re-parametrisation. Each image stops at the first step where its margin
C(n)[y] - max_{i≠y} C(n)[i] reaches g1 (its snapshot is kept while the rest of its chunk goes on).

Determinism: images are processed in chunks of a fixed size (padded by repeating the last image), so an
image's arithmetic never depends on how many images the caller passed or on their neighbours; on CPU the
result was bit-identical across batch sizes, chunk positions and thread counts on one machine
(tests/test_nae.py checks this). The chunk size is part of the ciphertext's metadata.
"""
from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass

import torch


@dataclass(frozen=True)
class PhiConfig:
    lr: float = 0.1          # Adam step size in tanh space (authors: 0.01)
    max_steps: int = 500     # give up (and let the caller retry with a new nonce) after this many steps
    margin: float = 5.0      # g1
    chunk: int = 8           # fixed batch shape of the attack (determinism; stored in the metadata)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "PhiConfig":
        return cls(lr=float(d["lr"]), max_steps=int(d["max_steps"]), margin=float(d["margin"]), chunk=int(d["chunk"]))


@dataclass
class NAEResult:
    n_adv: torch.Tensor      # (N, C, H, W) in [0, 1]
    steps: torch.Tensor      # (N,) int: steps taken until the margin was reached (max_steps on failure)
    success: torch.Tensor    # (N,) bool: margin g1 reached
    margin: torch.Tensor     # (N,) float: final margin


def margin_of(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """C[y] - max_{i≠y} C[i] per row."""
    tgt = logits.gather(1, target[:, None]).squeeze(1)
    other = logits.scatter(1, target[:, None], float("-inf")).amax(1)
    return tgt - other


@contextlib.contextmanager
def _deterministic_backend():
    cudnn = torch.backends.cudnn
    saved = (cudnn.deterministic, cudnn.benchmark)
    cudnn.deterministic, cudnn.benchmark = True, False
    try:
        yield
    finally:
        cudnn.deterministic, cudnn.benchmark = saved


def _attack_chunk(classifier, n0: torch.Tensor, target: torch.Tensor, cfg: PhiConfig):
    eps = 1e-6
    w = torch.atanh((n0 * 2 - 1).clamp(-1 + eps, 1 - eps)).detach().requires_grad_(True)
    opt = torch.optim.Adam([w], lr=cfg.lr)
    best = n0.clone()
    steps = torch.full((len(n0),), cfg.max_steps, dtype=torch.long, device=n0.device)
    done = torch.zeros(len(n0), dtype=torch.bool, device=n0.device)
    last_margin = torch.zeros(len(n0), device=n0.device)
    for step in range(cfg.max_steps + 1):
        n = (torch.tanh(w) + 1) / 2
        logits = classifier(n)
        m = margin_of(logits, target)
        newly = (m >= cfg.margin) & ~done
        if newly.any():
            best[newly] = n.detach()[newly]
            steps[newly] = step
            last_margin[newly] = m.detach()[newly]
            done |= newly
        if bool(done.all()) or step == cfg.max_steps:
            break
        loss = torch.clamp(-m, min=-cfg.margin).sum()   # max(max_{i≠y} C_i - C_y, -g1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    fail = ~done
    if fail.any():
        best[fail] = n.detach()[fail]
        last_margin[fail] = m.detach()[fail]
    return best, steps, done, last_margin


def generate_nae(classifier: torch.nn.Module, noise: torch.Tensor, target: torch.Tensor,
                 cfg: PhiConfig = PhiConfig(), progress=None) -> NAEResult:
    """Run Φ on noise images (N, C, H, W) towards labels `target` (N,). The classifier must be in eval mode."""
    if classifier.training:
        raise ValueError("the classifier must be in eval mode for Φ (call .eval())")
    n_total = len(noise)
    outs = []
    req = [p.requires_grad for p in classifier.parameters()]
    for p in classifier.parameters():
        p.requires_grad_(False)
    try:
        with torch.enable_grad(), _deterministic_backend():
            for s in range(0, n_total, cfg.chunk):
                n0, t0 = noise[s:s + cfg.chunk], target[s:s + cfg.chunk]
                k = len(n0)
                if k < cfg.chunk:  # pad to the fixed chunk shape
                    reps = cfg.chunk - k
                    n0 = torch.cat([n0, n0[-1:].expand(reps, *n0.shape[1:])])
                    t0 = torch.cat([t0, t0[-1:].expand(reps)])
                res = _attack_chunk(classifier, n0.contiguous(), t0.contiguous(), cfg)
                outs.append([r[:k] for r in res])
                if progress is not None:
                    progress(k)
    finally:
        for p, r in zip(classifier.parameters(), req):
            p.requires_grad_(r)
    cat = [torch.cat([o[i] for o in outs]) for i in range(4)]
    return NAEResult(*cat)
