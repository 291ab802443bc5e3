"""`ric bench phi-reach`: can Φ reach every target label from keyed noise, and how fast? And is the classifier
robust to the contrast that Φ aims at (PhiConfig.view)? A diagnosis that prints two small tables.

  ric bench phi-reach MODEL N [--classifier SPEC] [--view V] [--target Y] [--data NPZ] [--set k=v ...]

  MODEL       RIC model (shipped name or .safetensors) whose encryption Φ settings are used
  N           noise images; targets cycle through the classes (or all --target Y)
  --classifier  classifier name or .safetensors path (default: MODEL's)
  --view      the contrast Φ aims at (default 0.8 = λ, what ric/2 encryption uses)
  --data      an .npz: also print how many real test images keep their label at contrast 1.0 / 0.9 / 0.8
  --set       override a PhiConfig field, e.g. --set lr=0.05 --set max_steps=2000
  --class-starts  begin Φ from the classifier's class starts (what encryption does), not the noise alone

One thread unless --threads. Prints the steps-to-margin distribution, the targets that missed, and wall time. The
key and the nonces are fixed (derived from constants), so a run is repeatable. (Formerly
scripts/diag_phi_reach.py, same arguments and measurement.)
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import time

import torch

from ... import hub
from ...errors import ConfigError
from ...keys import Key
from ...nae import generate_nae, margin_of
from ...noise import noise_image
from . import _engine
from .common import SHIPPED_SIZES, machine_line, table


def phi_settings(a):
    phi = dataclasses.replace(_engine.model_phi(hub.load_ric_model(a.model)), view=a.view)
    for k, v in a.set:
        if not hasattr(phi, k):
            raise ConfigError(f"--set {k}=...: PhiConfig has no field {k!r}")
        phi = dataclasses.replace(phi, **{k: type(getattr(phi, k))(v)})
    return phi


def contrast_table(c, path: str) -> tuple:
    """Test images keeping their label at contrast 1.0 / 0.9 / 0.8 (printed); their image shape (C, H, W)."""
    from ...datasets.arrays import load_npz
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such dataset (--data)")
    x, _ = load_npz(path, "test").tensors(slice(0, 2000))   # RGB (greyscale replicated), NCHW in [0, 1]
    with torch.no_grad():
        y = c(x).argmax(1)
        rows = []
        for v in (1.0, 0.9, 0.8):
            m = margin_of(c(v * x + (1 - v) * 0.5), y)
            rows.append([v, f"{(m > 0).float().mean():.2%}", f"{m.median():.2f}"])
    print("\n" + table(["contrast v (v·x + (1 − v)·0.5)", "test images keeping their label", "median margin"], rows))
    return tuple(x.shape[1:])


def run(a) -> int:
    if a.data is None and a.model not in SHIPPED_SIZES:
        raise ConfigError(f"no image size known for {a.model!r}: pass --data")
    torch.set_num_threads(a.threads)
    clf = hub.load_classifier(a.classifier or a.model)
    c = clf.module.eval()
    phi = phi_settings(a)
    load0 = os.getloadavg()[0]
    print(f"classifier {clf.identity}; {phi}")
    shape = contrast_table(c, a.data) if a.data else (3, SHIPPED_SIZES[a.model], SHIPPED_SIZES[a.model])
    key = Key(hashlib.sha256(b"diag_phi_reach").digest())   # the script's constant: the same noise as its runs
    noise = torch.stack([noise_image(key, hashlib.sha256(str(i).encode()).digest()[:16], shape) for i in range(a.n)])
    with torch.no_grad():
        ncls = c(noise[:1]).shape[1]
    tgt = torch.full((a.n,), a.target) if a.target is not None else torch.arange(a.n) % ncls
    if a.class_starts:
        starts = hub.load_class_starts(clf)
        if starts is None:
            raise ConfigError(f"classifier {clf.identity} has no class starts (run ric prepare-classifier)")
        noise = starts.blend(noise, tgt, starts.moves_at_random(len(noise), shape, torch.Generator().manual_seed(0)))
        print(f"Φ begins from class starts {starts.digest} (α {starts.alpha})")
    t = time.perf_counter()
    r = generate_nae(c, noise, tgt, phi)
    dt = time.perf_counter() - t
    report(a, r, tgt, dt, load0)
    return 0


def report(a, r, tgt, dt: float, load0: float) -> None:
    s = r.steps.float()
    print("\n" + machine_line(a.threads, load0, os.getloadavg()[0]))
    print(table(["NAEs", "margin reached", "steps median", "steps p90", "steps max", "wall s"],
                [[a.n, f"{int(r.success.sum())}/{a.n}", f"{s.median():.0f}", f"{s.quantile(0.9):.0f}",
                  int(r.steps.max()), f"{dt:.1f}"]]))
    print(f"\n{a.n} NAEs in {dt:.1f} s: margin reached {int(r.success.sum())}/{a.n}; steps median {s.median():.0f}, "
          f"90th percentile {s.quantile(0.9):.0f}, max {int(r.steps.max())}")
    failed = tgt[~r.success].tolist()
    if failed:
        print("targets that missed the margin:", sorted(failed), "final margins:",
              [round(float(v), 2) for v in r.margin[~r.success]])
