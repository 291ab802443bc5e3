"""Profile the sealed scheme's coarse 5-level attack on real images: steps to success, success rate, time.

usage: python scripts/profile_sealed.py --data ../shared/data/celeba_faces_64.npz --classifier celeba64 \
           --n 8 --cfg lr=0.1,margin=5,payload_samples=4,max_steps=300 [--cfg ...] [--threads 1] [--seed 0]
           [--split train]
Each --cfg is one SealedConfig (fields as key=value). For each, one attack (no retries) on the same seeded
test images and key; prints per config: success (real payload at the margin and random payloads labelled ŷ),
ciphertext labelled ŷ, steps (median / max over successes), seconds per image, and the real payload's margin.
"""
import argparse
import os
import secrets
import time

import numpy as np
import torch

from ric import hub
from ric.datasets import load_dataset
from ric.keys import Key
from ric.nae import margin_of
from ric.noise import noise_image
from ric.schemes.sealed import BASE, NONCE_BYTES, SealedConfig, coarse_attack, fine_digits, seal_stream


def parse_cfg(text: str) -> SealedConfig:
    kw = {}
    for part in filter(None, text.split(",")):
        k, v = part.split("=")
        kw[k] = type(getattr(SealedConfig(), k))(float(v)) if k != "lr" and k != "margin" else float(v)
    return SealedConfig(**kw)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--classifier", default="cifar10")
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split", default="train", help="tune on train images; measure on test (default train)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cfg", action="append", default=[])
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    clf = hub.load_classifier(a.classifier).module.eval()
    for p in clf.parameters():
        p.requires_grad_(False)
    ds = load_dataset(a.data, a.split)
    idx = np.sort(np.random.default_rng(a.seed).permutation(len(ds))[:a.n])
    imgs = [ds.x[i] for i in idx]
    key = Key.generate()
    x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        logits = clf(x)
    target = logits.argmax(1)
    top2 = logits.topk(2, 1).values
    print(f"plaintext logit gap (top1 - top2): median {float((top2[:, 0] - top2[:, 1]).median()):.2f}; "
          f"max logit median {float(top2[:, 0].median()):.2f}")
    fines, inits = [], []
    for im in imgs:
        nonce = secrets.token_bytes(NONCE_BYTES)
        stream, _ = seal_stream(key, im, nonce)
        fines.append(torch.from_numpy(fine_digits(stream, im.shape)).permute(2, 0, 1))
        inits.append(noise_image(key, nonce + bytes(4), (3, *im.shape[:2])))
    fine, init = torch.stack(fines), torch.stack(inits)
    print(f"n={a.n} {a.split} images of {os.path.basename(a.data)} (seed {a.seed}), classifier {a.classifier}, {a.threads} thread(s), "
          f"load {os.getloadavg()[0]:.2f}")
    print("| config | success | labelled ŷ | steps median / max | s/img | real-payload margin median |")
    print("|---|---|---|---|---|---|")
    for text in a.cfg or [""]:
        cfg = parse_cfg(text)
        gen = torch.Generator().manual_seed(a.seed)
        t = time.perf_counter()
        with torch.enable_grad():
            lev, done, steps = coarse_attack(clf, fine, target, init, cfg, gen)
        dt = (time.perf_counter() - t) / a.n
        c = (BASE * lev.long() + fine.long()).float() / 255
        with torch.no_grad():
            lg = clf(c)
        ok = lg.argmax(1) == target
        m = margin_of(lg, target)
        s = steps[done].float()
        st = f"{s.median():.0f} / {s.max():.0f}" if len(s) else "—"
        print(f"| {text or 'default'} | {int(done.sum())}/{a.n} | {int(ok.sum())}/{a.n} | {st} | {dt:.2f} | "
              f"{float(m.median()):.2f} |", flush=True)


if __name__ == "__main__":
    main()
