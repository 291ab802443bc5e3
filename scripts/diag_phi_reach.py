"""Can Φ reach every target label from keyed noise, and how fast? And is the classifier robust to the contrast that
Φ aims at under ric/2 (PhiConfig.view)? Not a test: a diagnosis that prints two small tables.

usage:
  python scripts/diag_phi_reach.py MODEL N [--classifier SPEC] [--view V] [--target Y] [--data NPZ] [--set k=v ...]

  MODEL       shipped RIC model whose encryption Φ settings are used (mnist, cifar10, celeba64)
  N           noise images; targets cycle through the classes (or all --target Y)
  --classifier  classifier name or .safetensors path (default: MODEL's)
  --view      the contrast Φ aims at (default 0.8 = λ, what ric/2 encryption uses)
  --data      an .npz: also print how many real test images keep their label at contrast 1.0 / 0.9 / 0.8
  --set       override a PhiConfig field, e.g. --set lr=0.05 --set max_steps=2000

One thread. Prints the steps-to-margin distribution, successes per target, and wall time.
"""
import argparse
import dataclasses
import hashlib
import time

import torch

from ric import hub
from ric.datasets.arrays import load_npz
from ric.files.engine import model_phi
from ric.keys import Key
from ric.nae import generate_nae, margin_of
from ric.noise import noise_image


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("n", type=int)
    ap.add_argument("--classifier")
    ap.add_argument("--view", type=float, default=0.8)
    ap.add_argument("--target", type=int)
    ap.add_argument("--data")
    ap.add_argument("--set", action="append", default=[])
    a = ap.parse_args()
    torch.set_num_threads(1)
    clf = hub.load_classifier(a.classifier or a.model)
    c = clf.module.eval()
    phi = dataclasses.replace(model_phi(hub.load_ric_model(a.model)), view=a.view)
    for kv in a.set:
        k, v = kv.split("=", 1)
        phi = dataclasses.replace(phi, **{k: type(getattr(phi, k))(v)})
    print(f"classifier {clf.identity}; {phi}")

    if a.data:
        ds = load_npz(a.data, "test")
        x, _ = ds.tensors(slice(0, 2000))   # RGB (greyscale replicated), NCHW in [0, 1]
        with torch.no_grad():
            y = c(x).argmax(1)
            print("\n| contrast v (v·x + (1 − v)·0.5) | test images keeping their label | median margin |\n|---|---|---|")
            for v in (1.0, 0.9, 0.8):
                m = margin_of(c(v * x + (1 - v) * 0.5), y)
                print(f"| {v} | {(m > 0).float().mean():.2%} | {m.median():.2f} |")
        shape = tuple(x.shape[1:])
    else:
        sizes = {"mnist": 28, "cifar10": 32, "celeba64": 64, "celeba160": 160}   # the shipped pairs' image sizes
        if a.model not in sizes:
            ap.error(f"no image size known for {a.model!r}: pass --data")
        shape = (3, sizes[a.model], sizes[a.model])

    key = Key(hashlib.sha256(b"diag_phi_reach").digest())
    noise = torch.stack([noise_image(key, hashlib.sha256(str(i).encode()).digest()[:16], shape) for i in range(a.n)])
    with torch.no_grad():
        ncls = c(noise[:1]).shape[1]
    tgt = torch.full((a.n,), a.target) if a.target is not None else torch.arange(a.n) % ncls
    t = time.perf_counter()
    r = generate_nae(c, noise, tgt, phi)
    dt = time.perf_counter() - t
    s = r.steps.float()
    print(f"\n{a.n} NAEs in {dt:.1f} s: margin reached {int(r.success.sum())}/{a.n}; steps median {s.median():.0f}, "
          f"90th percentile {s.quantile(0.9):.0f}, max {int(r.steps.max())}")
    failed = tgt[~r.success].tolist()
    if failed:
        print("targets that missed the margin:", sorted(failed), "final margins:",
              [round(float(v), 2) for v in r.margin[~r.success]])


if __name__ == "__main__":
    main()
