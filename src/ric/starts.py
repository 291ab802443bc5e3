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

from .nae import margin_of

SUFFIX = ".starts.safetensors"
EPS = 1e-4     # resized patterns stay inside (0, 1), so every n0 does too (Φ's tanh re-parametrisation needs it)


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

    @cached_property
    def digest(self) -> str:
        """12 hex of SHA-256 over the patterns' float32 bytes, their shape, α and view: what a ciphertext records."""
        h = hashlib.sha256(json.dumps([list(self.patterns.shape), self.alpha, self.view]).encode())
        h.update(self.patterns.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
        return h.hexdigest()[:12]

    def blend(self, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """n0 = (1 − α)·noise + α·p_label for noise images (N, C, H, W); patterns are resized to H×W if needed."""
        p = self.patterns.to(noise.device)[labels.to(noise.device)]
        if p.shape[-2:] != noise.shape[-2:]:
            p = F.interpolate(p, size=noise.shape[-2:], mode="bilinear", align_corners=False).clamp(EPS, 1 - EPS)
        if p.shape[1] != noise.shape[1]:
            raise ValueError(f"class starts have {p.shape[1]} channels, the images {noise.shape[1]}")
        return (1 - self.alpha) * noise + self.alpha * p


def fit_starts(classifier: torch.nn.Module, shape: tuple[int, int, int], alpha: float, view: float, margin: float,
               steps: int = 150, per_class: int = 4, lr: float = 0.05, seed: int = 0, device="cpu",
               progress=None) -> tuple[torch.Tensor, dict]:
    """Patterns p_y (K, C, H, W) that bring noise images to the margin for label y: Adam on logits of p over fresh
    uniform noise batches (per_class images of every label per step), minimising the same clipped margin loss as Φ
    on what Φ's classifier sees. Deterministic for a seed on one machine. Returns (patterns, fit record)."""
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
            m = margin_of(classifier(view * ((1 - alpha) * n + alpha * torch.sigmoid(q)[y]) + (1 - view) * 0.5), y)
            loss = torch.clamp(-m, min=-margin).mean()
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
                             json.loads(meta.get("fit", "{}")))
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
