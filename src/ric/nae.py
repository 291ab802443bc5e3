"""Φ: the noise-like adversarial example (paper eqs. 2-4), deterministic and batched.

A targeted margin-loss (C&W f) attack solved with Adam from the keyed noise image, kept in [0, 1] by the
tanh re-parametrisation. Each image stops at the first step where its margin
C(n)[y] - max_{i≠y} C(n)[i] reaches g1 (its snapshot is kept while the rest of its chunk goes on).

Determinism: the attack always runs on a batch of a fixed shape (`chunk` rows), so an image's arithmetic never
depends on how many images the caller passed or on their neighbours; on CPU the result was bit-identical
across batch sizes, chunk positions and thread counts on one machine (tests/test_nae.py checks this). The
chunk size is part of the ciphertext's metadata.

Two schedules compute the same function (tests/test_nae.py checks they give the same bits):
  * "chunk" (the original): images go through in chunks; a chunk runs until its slowest image is done.
  * "refill" (default, faster): `chunk` slots; an image leaves its slot at the step it reaches the margin (or
    gives up) and the next image takes the slot at its step 0. Adam's bias correction is kept per slot, so
    every image follows exactly the trajectory it has alone. Wasted work is only the empty slots at the end.
    Before the slots, every image's step 0 runs forward only (`_step0`): the ones that start past the margin —
    most, with class starts (ric.starts) — never pay for a backward pass.
"""
from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, fields

import torch

from .errors import ConfigError
from .lowpass import locked

CONTIGUOUS = "contiguous"
LOCK_EPS = 1e-4     # a locked n stays inside (0, 1), like the tanh image it comes from
MEMORY_FORMATS = {CONTIGUOUS: torch.contiguous_format, "channels_last": torch.channels_last}


@dataclass(frozen=True)
class PhiConfig:
    lr: float = 0.1          # Adam step size in tanh space (authors: 0.01)
    max_steps: int = 500     # give up (and let the caller retry with a new nonce) after this many steps
    margin: float = 5.0      # g1
    chunk: int = 8           # fixed batch shape of the attack (determinism; stored in the metadata)
    schedule: str = "refill"  # "refill" or "chunk": same bits, different speed (not stored: it does not matter)
    step0: bool = True       # refill: a forward-only step 0 first (`_step0`); same bits, so not stored either —
    #                          it pays where many images start past the margin (class starts at their own size)
    view: float = 1.0        # C sees view·n + (1 - view)·0.5: 1 = the paper's Φ on n itself; λ = the expected
    #                          ciphertext when u_en is mixed under the key (schemes.paper.mixing: values average 0.5)
    start: float = 0.0       # α of the class starts Φ begins from (ric.starts): n0 = (1 − α)·n + α·p_y; 0 = from n
    start_id: str = ""       # digest of those class starts (ClassStarts.digest); "" when start is 0
    tile: int = 0            # the classifier is run in tiles of this side (ric.tiles; photo sizes); 0 = whole image
    lock: int = 0            # low-frequency lock (ric.lowpass): n keeps the block means of its start over blocks of
    #                          this side, so no two ciphertexts share a large pattern; 0 = off (ciphertexts from
    #                          before it existed record none)
    resized: bool = False    # format ric/4 behind a pipeline that shrinks the photo: Φ at the classifier's resolution
    #                          first (ric.schemes.paper.resized), the whole-image Φ only for what its lifts leave
    memory: str = "channels_last"   # the memory layout C sees (MEMORY_FORMATS): oneDNN's convolutions give other
    #   float bits on each, and channels-last ran Φ's steps ≈ 30% faster on CPU; ciphertexts from before it
    #   existed record none and regenerate on "contiguous"

    def to_dict(self) -> dict:
        """What decides the bits of n_adv (stored in the ciphertext's metadata); the schedule does not. `view` is
        stored only when it is not 1 (ciphertexts from before it existed read as 1), the class start and the tile
        side only when used."""
        d = asdict(self)
        del d["schedule"], d["step0"]
        if self.view == 1.0:
            del d["view"]
        if not self.start:
            del d["start"], d["start_id"]
        if not self.tile:
            del d["tile"]
        if not self.lock:
            del d["lock"]
        if not self.resized:
            del d["resized"]
        if self.memory == CONTIGUOUS:
            del d["memory"]
        return d

    @classmethod
    def from_dict(cls, d: dict, schedule: str = "refill", memory: str = CONTIGUOUS) -> "PhiConfig":
        """The settings a ciphertext recorded (`memory`: the layout when none is recorded — contiguous for a
        ciphertext, which records any other; a model's `phi_encrypt` settings pass the current default)."""
        unknown = sorted(set(d) - PHI_KEYS)
        if unknown:   # a setting this version would ignore would give other bits: refuse instead
            raise ConfigError(f"unknown Φ setting{'s' * (len(unknown) > 1)} {', '.join(map(repr, unknown))} "
                              f"(known: {', '.join(sorted(PHI_KEYS))})")
        layout = str(d.get("memory", memory))
        if layout not in MEMORY_FORMATS:
            raise ValueError(f"unknown memory layout {layout!r} for Φ ({', '.join(MEMORY_FORMATS)})")
        return cls(lr=float(d["lr"]), max_steps=int(d["max_steps"]), margin=float(d["margin"]), chunk=int(d["chunk"]),
                   schedule=schedule, view=float(d.get("view", 1.0)), start=float(d.get("start", 0.0)),
                   start_id=str(d.get("start_id", "")), tile=int(d.get("tile", 0)), lock=int(d.get("lock", 0)),
                   resized=bool(d.get("resized", False)), memory=layout)

    def image(self, w: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
        """The noise image n of tanh-space `w`, its block means held at those of `start` when `lock` is set."""
        n = (torch.tanh(w) + 1) / 2
        return locked(n, start, self.lock).clamp(LOCK_EPS, 1 - LOCK_EPS) if self.lock else n

    def seen(self, n: torch.Tensor) -> torch.Tensor:
        """What the classifier is shown during Φ for the noise image n, in Φ's memory layout."""
        v = n if self.view == 1.0 else self.view * n + (1 - self.view) * 0.5
        return v.contiguous(memory_format=MEMORY_FORMATS[self.memory])


PHI_KEYS = frozenset(f.name for f in fields(PhiConfig))   # what a recorded or configured Φ may name


@dataclass
class NAEResult:
    n_adv: torch.Tensor      # (N, C, H, W) in [0, 1]
    steps: torch.Tensor      # (N,) int: steps taken until the margin was reached (max_steps on failure)
    success: torch.Tensor    # (N,) bool: margin g1 reached
    margin: torch.Tensor     # (N,) float: final margin


def margin_of(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """C[y] - max_{i≠y} C[i] per row. Logits (N, V, K) of V views of each image (a pipeline's views,
    ric.classifiers.pipeline.ViewMargins) give the smallest margin over the views, towards one target per image
    (N,) or one per view (N, V)."""
    if logits.dim() == 3:
        v = logits.shape[1]
        per_view = target.reshape(-1) if target.dim() == 2 else target.repeat_interleave(v)
        return margin_of(logits.flatten(0, 1), per_view).view(-1, v).amin(1)
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
    w = _to_w(n0).detach().requires_grad_(True)
    opt = torch.optim.Adam([w], lr=cfg.lr)
    best = n0.clone()
    steps = torch.full((len(n0),), cfg.max_steps, dtype=torch.long, device=n0.device)
    done = torch.zeros(len(n0), dtype=torch.bool, device=n0.device)
    last_margin = torch.zeros(len(n0), device=n0.device)
    for step in range(cfg.max_steps + 1):
        n = cfg.image(w, n0)
        logits = classifier(cfg.seen(n))
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


_BETA1, _BETA2, _EPS = 0.9, 0.999, 1e-8   # torch.optim.Adam's defaults (the "chunk" schedule uses that class)


def _to_w(n0: torch.Tensor) -> torch.Tensor:
    eps = 1e-6
    return torch.atanh((n0 * 2 - 1).clamp(-1 + eps, 1 - eps))


@torch.no_grad()
def _adam_rows(w, exp_avg, exp_avg_sq, grad, rows: list[int], steps: list[int], lr: float) -> None:
    """One Adam step on the slots `rows` (each at its own step count), in place, with the operations of
    torch.optim.Adam's single-tensor path."""
    dev, view = w.device, (-1, *[1] * (w.dim() - 1))
    st = torch.tensor([float(s) for s in steps], dtype=torch.float64)
    step_size = (lr / (1 - _BETA1 ** st)).to(torch.float32).view(view)
    bc2_sqrt = ((1 - _BETA2 ** st) ** 0.5).to(torch.float32).view(view)
    if rows == list(range(len(w))):   # every slot (a lone photo's): the same operations in place, no row copies
        exp_avg.lerp_(grad, 1 - _BETA1)
        exp_avg_sq.mul_(_BETA2).addcmul_(grad, grad, value=1 - _BETA2)
        denom = (exp_avg_sq.sqrt() / bc2_sqrt.to(dev)).add_(_EPS)
        w.add_((-step_size.to(dev)) * exp_avg / denom)
        return
    idx = torch.tensor(rows, device=dev)
    g = grad[idx]
    ea = exp_avg[idx].lerp_(g, 1 - _BETA1)
    eas = exp_avg_sq[idx].mul_(_BETA2).addcmul_(g, g, value=1 - _BETA2)
    denom = (eas.sqrt() / bc2_sqrt.to(dev)).add_(_EPS)
    w[idx] = w[idx] + (-step_size.to(dev)) * ea / denom
    exp_avg[idx], exp_avg_sq[idx] = ea, eas


PRECHECK_BAND = 1e-3   # an image leaves before the slots only when its step-0 margin clears g1 by this much


def _step0(classifier, noise: torch.Tensor, target: torch.Tensor, cfg: PhiConfig):
    """Every image's step 0 as its slot computes it — w from the image alone (`_to_w`, as `fill` does), then the
    classifier on slot-shaped batches of `chunk` rows (the last padded), autograd recording as in a slot — but
    forward only: (n, margin) per image, no backward. About a third of a slot step per image."""
    k, ns, ms = cfg.chunk, [], []
    for s in range(0, len(noise), k):
        rows = list(range(s, min(s + k, len(noise))))
        padded = rows + rows[-1:] * (k - len(rows))
        w = torch.stack([_to_w(noise[i]) for i in padded])
        wr = w.requires_grad_(True)
        n = cfg.image(wr, noise[padded])
        t = target[padded]
        ms.append(margin_of(classifier(cfg.seen(n)), t).detach()[:len(rows)])
        ns.append(n.detach()[:len(rows)])
    return torch.cat(ns), torch.cat(ms)


def _attack_refill(classifier, noise: torch.Tensor, target: torch.Tensor, cfg: PhiConfig, progress=None):
    """The refill schedule, after a forward-only step 0 for every image (`_step0`): those that start past the
    margin by PRECHECK_BAND are done at step 0 with the very n their slot would have kept; the others go through the
    slots (`_refill_slots`), where their step 0 runs again, with its backward. Each image's n, step count and
    success are those of the slots alone: the band only decides which images skip them (tests/test_nae.py checks
    the bits against the chunk schedule, which has no step-0 pass)."""
    if not cfg.step0:
        return _refill_slots(classifier, noise, target, cfg, progress)
    n0, m0 = _step0(classifier, noise, target, cfg)
    early = m0 >= cfg.margin + PRECHECK_BAND
    rest = (~early).nonzero().squeeze(1)
    out_n, out_m = n0.clone(), m0.clone()
    out_steps = torch.zeros(len(noise), dtype=torch.long, device=noise.device)
    out_ok = early.clone()
    if progress is not None and bool(early.any()):
        progress(int(early.sum()))
    if len(rest):
        r_n, r_steps, r_ok, r_m = _refill_slots(classifier, noise[rest], target[rest], cfg, progress)
        out_n[rest], out_steps[rest], out_ok[rest], out_m[rest] = r_n, r_steps, r_ok, r_m
    return out_n, out_steps, out_ok, out_m


def _refill_slots(classifier, noise: torch.Tensor, target: torch.Tensor, cfg: PhiConfig, progress=None):
    """The "refill" schedule's slots. Adam is written out with the same tensor operations as torch.optim.Adam's
    single-tensor path (lerp, addcmul, sqrt, /, +eps, addcdiv as (a*b)/c), with the step count per slot."""
    n_img, k, dev = len(noise), cfg.chunk, noise.device
    shape = tuple(noise.shape[1:])
    out_n = torch.empty_like(noise)
    out_steps = torch.full((n_img,), cfg.max_steps, dtype=torch.long, device=dev)
    out_ok = torch.zeros(n_img, dtype=torch.bool, device=dev)
    out_m = torch.zeros(n_img, device=dev)
    w = torch.zeros((k, *shape), device=dev)
    start = torch.zeros_like(w)     # each slot's image's start (the lock's reference)
    exp_avg, exp_avg_sq = torch.zeros_like(w), torch.zeros_like(w)
    tgt = torch.zeros((k, *target.shape[1:]), dtype=torch.long, device=dev)
    slot = [-1] * k          # image index held by each slot, -1 = empty
    t = [0] * k              # Adam steps taken by each slot's image
    nxt = 0

    def fill(s):
        nonlocal nxt
        if nxt < n_img:
            w[s] = _to_w(noise[nxt])
            start[s] = noise[nxt]
            exp_avg[s] = 0
            exp_avg_sq[s] = 0
            tgt[s] = target[nxt]
            slot[s], t[s] = nxt, 0
            nxt += 1
        else:
            slot[s] = -1

    for s in range(k):
        fill(s)
    while any(i >= 0 for i in slot):
        wr = w.detach().requires_grad_(True)
        n = cfg.image(wr, start)
        m = margin_of(classifier(cfg.seen(n)), tgt)
        md = m.detach()
        hit = (md >= cfg.margin).tolist()
        finished, cont = [], []
        for s, i in enumerate(slot):
            if i < 0:
                continue
            if hit[s] or t[s] >= cfg.max_steps:
                out_n[i], out_m[i], out_ok[i] = n.detach()[s], md[s], bool(hit[s])
                out_steps[i] = t[s] if hit[s] else cfg.max_steps
                finished.append(s)
            else:
                cont.append(s)
        if cont:
            mask = torch.zeros(k, device=dev)
            mask[cont] = 1.0
            loss = (torch.clamp(-m, min=-cfg.margin) * mask).sum()
            (grad,) = torch.autograd.grad(loss, wr)
            for s in cont:
                t[s] += 1
            _adam_rows(w, exp_avg, exp_avg_sq, grad, cont, [t[s] for s in cont], cfg.lr)
        for s in finished:
            fill(s)
        if progress is not None:          # every step, 0 when none finished: a bar's clock moves on a long photo
            progress(len(finished))
    return out_n, out_steps, out_ok, out_m


def generate_nae(classifier: torch.nn.Module, noise: torch.Tensor, target: torch.Tensor,
                 cfg: PhiConfig = PhiConfig(), progress=None) -> NAEResult:
    """Run Φ on noise images (N, C, H, W) towards labels `target` (N,), or (N, V) for a classifier that gives
    logits under V views (N, V, K). The classifier must be in eval mode."""
    if classifier.training:
        raise ValueError("the classifier must be in eval mode for Φ (call .eval())")
    n_total = len(noise)
    outs = []
    req = [p.requires_grad for p in classifier.parameters()]
    for p in classifier.parameters():
        p.requires_grad_(False)
    try:
        with torch.enable_grad(), _deterministic_backend():
            if cfg.schedule == "refill":
                return NAEResult(*_attack_refill(classifier, noise.contiguous(), target.contiguous(), cfg, progress))
            if cfg.schedule != "chunk":
                raise ValueError(f"unknown Φ schedule {cfg.schedule!r} (refill or chunk)")
            for s in range(0, n_total, cfg.chunk):
                n0, t0 = noise[s:s + cfg.chunk], target[s:s + cfg.chunk]
                k = len(n0)
                if k < cfg.chunk:  # pad to the fixed chunk shape
                    reps = cfg.chunk - k
                    n0 = torch.cat([n0, n0[-1:].expand(reps, *n0.shape[1:])])
                    t0 = torch.cat([t0, t0[-1:].expand(reps, *t0.shape[1:])])
                res = _attack_chunk(classifier, n0.contiguous(), t0.contiguous(), cfg)
                outs.append([r[:k] for r in res])
                if progress is not None:
                    progress(k)
    finally:
        for p, r in zip(classifier.parameters(), req):
            p.requires_grad_(r)
    cat = [torch.cat([o[i] for o in outs]) for i in range(4)]
    return NAEResult(*cat)
