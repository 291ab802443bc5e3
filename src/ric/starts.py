"""Class starts: a public starting pattern per target label, so that Φ begins close to where it must go.

Φ climbs from keyed noise n to an image the classifier labels y, one forward+backward pass per step; from plain
noise some labels take hundreds of steps. With class starts it begins at

    n0 = (1 − α)·n + α·p_y

where p_y is a fixed, public pattern for label y (a class-conditional universal adversarial perturbation of the
classifier): `fit_starts` finds, once per classifier, the p_y that puts as many noise images as possible past the
margin at step 0. What it keeps and what it costs:

  * n_adv still depends only on (key, nonce, label, classifier, starts) — never on the plaintext — so format
    ric/3's guarantee (the ciphertext's distribution depends on the plaintext only through its label) is untouched;
    p_y is public, like the classifier, and says nothing beyond the label, which is public by design.
  * the ciphertext's pixel spread shrinks by (1 − α) before Φ moves it: it still looks like noise but its histogram
    is narrower (docs/results.md, "Class starts", reports its distance from the noise alone).
  * decryption regenerates n_adv from the same p_y: the ciphertext records the starts' digest and α (authenticated
    header), and a decryptor without the same file is refused before Φ runs.

A fixed p_y is a picture that every ciphertext of label y shares (same-label ciphertexts correlated 0.46–0.70 pixel
by pixel at 32 and 64 px). Starts that **move** (`moves="shift-flip"`) avoid it: each image's p_y is mirrored
and cyclically shifted by amounts drawn from its key and nonce (`keyed_moves`; H·W·2 placements), so two
ciphertexts share the pattern only where their placements do. Such starts are fitted to work in every placement,
and to correlate little with their own shifted and mirrored copies (`shift_correlations`: a periodic texture would
match itself at many shifts); the digest covers the moves.

The patterns are stored beside the classifier's weights (`NAME.starts.safetensors` next to `NAME.safetensors`),
fitted at one image size; other sizes get them bilinearly resized (the same arithmetic at encryption and
decryption).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from .keys import Key
from .nae import margin_of

SUFFIX = ".starts.safetensors"
EPS = 1e-4     # resized patterns stay inside (0, 1), so every n0 does too (Φ's tanh re-parametrisation needs it)
SHIFT_FLIP = "shift-flip"   # each image's pattern mirrored (or not) and cyclically shifted, drawn from key and nonce
MOVES = ("", SHIFT_FLIP)    # "": one fixed pattern per label (starts from before moves existed)


def quantise(p: torch.Tensor) -> torch.Tensor:
    """Patterns on 256 levels (k + 0.5) / 256: stored as 8 bits (a 160×160 set of 20 is 1.5 MB, not 6 MB), exact
    through the file, and strictly inside (0, 1)."""
    return ((p * 256).floor().clamp(0, 255) + 0.5) / 256


@dataclass(frozen=True)
class ClassStarts:
    patterns: torch.Tensor        # (K, C, S, S) float32 in (0, 1): p_y for each label y
    alpha: float                  # the blend weight α
    view: float                   # the contrast Φ aims at (PhiConfig.view) that they were fitted for
    classifier: str               # identity `name@digest` of the classifier they were fitted for
    meta: dict = field(default_factory=dict)   # how they were fitted (settings, reach at step 0)
    moves: str = ""               # MOVES: "" a fixed pattern per label; SHIFT_FLIP placed per image by its key

    def __post_init__(self):
        if self.moves not in MOVES:
            raise ValueError(f"unknown class-start moves {self.moves!r} (known: {', '.join(map(repr, MOVES))})")

    @cached_property
    def digest(self) -> str:
        """12 hex of SHA-256 over the patterns' float32 bytes, their shape, α, view and (when they move) the moves:
        what a ciphertext records."""
        head = [list(self.patterns.shape), self.alpha, self.view] + ([self.moves] if self.moves else [])
        h = hashlib.sha256(json.dumps(head).encode())
        h.update(self.patterns.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
        return h.hexdigest()[:12]

    def moves_for(self, key: Key, nonces: list[bytes], shape) -> torch.Tensor | None:
        """Each image's placement of its pattern (`keyed_moves`), or None for fixed starts."""
        return keyed_moves(key, nonces, shape) if self.moves else None

    def moves_at_random(self, n: int, shape, gen: torch.Generator) -> torch.Tensor | None:
        """n placements drawn from `gen` (`random_moves`), or None for fixed starts: for benchmarks with no key."""
        return random_moves(n, shape, gen) if self.moves else None

    def blend(self, noise: torch.Tensor, labels: torch.Tensor, moves: torch.Tensor | None = None) -> torch.Tensor:
        """n0 = (1 − α)·noise + α·p_label for noise images (N, C, H, W); patterns are resized to H×W if needed,
        then placed by `moves` (N, 3), which starts that move need (`moves_for`) and fixed ones refuse."""
        p = self.patterns.to(noise.device)[labels.to(noise.device)]
        if p.shape[-2:] != noise.shape[-2:]:
            p = F.interpolate(p, size=noise.shape[-2:], mode="bilinear", align_corners=False).clamp(EPS, 1 - EPS)
        if p.shape[1] != noise.shape[1]:
            raise ValueError(f"class starts have {p.shape[1]} channels, the images {noise.shape[1]}")
        if bool(self.moves) != (moves is not None):
            raise ValueError("these class starts move with each image (pass moves_for's placements)" if self.moves
                             else "these class starts are fixed; they take no moves")
        if moves is not None:
            p = place(p, moves)
        return (1 - self.alpha) * noise + self.alpha * p


def place(p: torch.Tensor, moves: torch.Tensor) -> torch.Tensor:
    """Patterns p (N, C, H, W), each mirrored left-right where moves[i, 2] is 1, then cyclically shifted down by
    moves[i, 0] and right by moves[i, 1] (differentiable in p)."""
    out = []
    for x, (dy, dx, flip) in zip(p, moves.tolist()):
        out.append(torch.roll(x.flip(-1) if flip else x, (int(dy), int(dx)), (-2, -1)))
    return torch.stack(out)


def keyed_moves(key: Key, nonces: list[bytes], shape) -> torch.Tensor:
    """(N, 3) placements (shift down, shift right, mirror) for images of `shape` (…, H, W), one per nonce, from
    64 key-derived bits each: uniform over the H·W·2 placements (to within 2^-40)."""
    h, w = int(shape[-2]), int(shape[-1])
    out = []
    for nonce in nonces:
        v = int.from_bytes(key.derive("class-start-move", nonce, 8), "big")
        out.append((v % h, (v // h) % w, (v // (h * w)) % 2))
    return torch.tensor(out, dtype=torch.long).view(-1, 3)


def random_moves(n: int, shape, gen: torch.Generator) -> torch.Tensor:
    """(n, 3) placements drawn from `gen` (fitting, and benchmarks that have no key)."""
    h, w = int(shape[-2]), int(shape[-1])
    return torch.stack([torch.randint(0, h, (n,), generator=gen), torch.randint(0, w, (n,), generator=gen),
                        torch.randint(0, 2, (n,), generator=gen)], 1)


def shift_correlations(p: torch.Tensor) -> torch.Tensor:
    """(K, 2, H, W) for patterns p (K, C, H, W): the correlation (pooled over channels, each pattern centred by its
    mean) of p with itself shifted cyclically by (dy, dx) [:, 0] and with its mirror image so shifted [:, 1] — the
    correlation of two images' starts placed differently (`place`); the unshifted copy [:, 0, 0, 0] is set to 0."""
    pc = p - p.mean((1, 2, 3), keepdim=True)
    norm = (pc ** 2).sum((1, 2, 3))[:, None, None] + 1e-12
    fp = torch.fft.fft2(pc)
    same = torch.fft.ifft2((fp.conj() * fp).sum(1)).real / norm
    mirrored = torch.fft.ifft2((fp.conj() * torch.fft.fft2(pc.flip(-1))).sum(1)).real / norm
    same = same * (torch.arange(same[0].numel(), device=p.device) != 0).view(same.shape[1:])
    return torch.stack([same, mirrored], 1)


def fit_starts(classifier: torch.nn.Module, shape: tuple[int, int, int], alpha: float, view: float, margin: float,
               steps: int = 150, per_class: int = 4, lr: float = 0.05, seed: int = 0, device="cpu",
               progress=None, moves: str = "", apart: float = 0.0, bar: float = 0.1) -> tuple[torch.Tensor, dict]:
    """Patterns p_y (K, C, H, W) that bring noise images to the margin for label y: Adam on logits of p over fresh
    uniform noise batches (per_class images of every label per step), minimising the same clipped margin loss as Φ
    on what Φ's classifier sees. With `moves` (SHIFT_FLIP) each copy is placed at random (`random_moves`), as
    encryption will place it, and `apart` > 0 adds apart · Σ relu(|r| − bar)² over each pattern's
    `shift_correlations` r: a pattern that matches its own shifted or mirrored copies would make two ciphertexts
    alike. Deterministic for a seed on one machine. Returns (patterns, fit record)."""
    if moves not in MOVES:
        raise ValueError(f"unknown class-start moves {moves!r}")
    device = torch.device(device)
    req = [p.requires_grad for p in classifier.parameters()]
    for p in classifier.parameters():
        p.requires_grad_(False)
    try:
        with torch.no_grad():
            k = classifier(torch.full((1, *shape), 0.5, device=device)).shape[1]
        gen = torch.Generator().manual_seed(seed)
        q = torch.zeros(k, *shape, device=device, requires_grad=True)
        opt = torch.optim.Adam([q], lr=lr)
        y = torch.arange(k, device=device).repeat_interleave(per_class)
        reached = 0.0
        for step in range(steps):
            n = torch.rand(len(y), *shape, generator=gen).to(device)
            p = torch.sigmoid(q)[y]
            if moves:
                p = place(p, random_moves(len(y), shape, gen))
            m = margin_of(classifier(view * ((1 - alpha) * n + alpha * p) + (1 - view) * 0.5), y)
            loss = torch.clamp(-m, min=-margin).mean()
            if apart:
                r = shift_correlations(torch.sigmoid(q))
                loss = loss + apart * (torch.relu(r.abs() - bar) ** 2).sum((1, 2, 3)).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            reached = float((m.detach() >= margin).float().mean())
            if progress is not None:
                progress(step, float(loss.detach()), reached)
    finally:
        for p, r in zip(classifier.parameters(), req):
            p.requires_grad_(r)
    patterns = quantise(torch.sigmoid(q.detach())).cpu().contiguous()
    record = {"steps": steps, "per_class": per_class, "lr": lr, "seed": seed, "margin": margin,
              "reached_last_batch": round(reached, 4)}
    if moves:
        worst = float(shift_correlations(patterns).abs().amax()) if len(patterns) else 0.0
        record.update({"moves": moves, "apart": apart, "bar": bar, "largest_shift_correlation": round(worst, 4)})
    return patterns, record


def starts_path(weights_path: str) -> str:
    """Where the class starts of the classifier weights at `weights_path` live."""
    root, _ = os.path.splitext(weights_path)
    return root + SUFFIX


def kept_starts_path(path: str, digest: str) -> str:
    """Where a replaced starts file `path` is kept: beside it as NAME@DIGEST.starts.safetensors, so that the
    ciphertexts that record its digest still regenerate (ric.hub.find_class_starts looks there)."""
    root = path[:-len(SUFFIX)] if path.endswith(SUFFIX) else os.path.splitext(path)[0]
    return f"{root}@{digest}{SUFFIX}"


def save_starts(starts: ClassStarts, path: str) -> None:
    meta = {"alpha": repr(starts.alpha), "view": repr(starts.view), "classifier": starts.classifier,
            "fit": json.dumps(starts.meta), "digest": starts.digest}
    if starts.moves:
        meta["moves"] = starts.moves
    levels = (starts.patterns * 256 - 0.5).round()
    if not torch.equal(quantise(starts.patterns), starts.patterns):
        raise ValueError("class starts must be on the 256 levels of ric.starts.quantise to be stored")
    save_file({"levels": levels.to(torch.uint8).contiguous()}, path, metadata=meta)


def load_starts(path: str) -> ClassStarts:
    """Raises ValueError for a file that is not a class-starts file."""
    from safetensors import SafetensorError, safe_open
    try:
        with safe_open(path, "pt") as f:
            meta = dict(f.metadata() or {})
        levels = load_file(path)["levels"]
        if levels.dtype != torch.uint8:
            raise ValueError("levels are not 8-bit")
        patterns = (levels.to(torch.float32) + 0.5) / 256
        starts = ClassStarts(patterns, float(meta["alpha"]), float(meta["view"]), meta["classifier"],
                             json.loads(meta.get("fit", "{}")), meta.get("moves", ""))
    except (KeyError, ValueError, OSError, SafetensorError) as e:
        why = str(e).splitlines()[0][:120] if str(e) else ""
        raise ValueError(f"{path} is not a class-starts file ({type(e).__name__}{': ' + why if why else ''})") from None
    if patterns.dim() != 4 or not 0 < starts.alpha < 1:
        raise ValueError(f"{path} is not a class-starts file (patterns of {patterns.dim()} dimensions, or α outside "
                         "(0, 1))")
    return starts


def histogram_distance(a: torch.Tensor, b: torch.Tensor, bins: int = 64) -> float:
    """Total-variation distance between the pixel-value histograms of two sets of images in [0, 1]."""
    ha = np.histogram(a.detach().cpu().numpy().ravel(), bins=bins, range=(0.0, 1.0))[0] / a.numel()
    hb = np.histogram(b.detach().cpu().numpy().ravel(), bins=bins, range=(0.0, 1.0))[0] / b.numel()
    return float(0.5 * np.abs(ha - hb).sum())
