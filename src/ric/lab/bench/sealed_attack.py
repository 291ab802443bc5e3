"""`ric bench sealed-attack`: profile the sealed scheme's coarse 5-level attack on real images: steps to success,
success rate, time.

  ric bench sealed-attack --data ../shared/data/celeba_faces_64.npz --classifier celeba64 \
      --n 8 --cfg lr=0.1,margin=5,payload_samples=4,max_steps=300 [--cfg ...] [--threads 1] [--seed 0]
      [--split train]
Each --cfg is one SealedConfig (fields as key=value). For each, one attack (no retries) on the same seeded
images and key; prints per config: success (real payload at the margin and random payloads labelled ŷ),
ciphertext labelled ŷ, steps (median / max over successes), seconds per image, and the real payload's margin.
(Formerly scripts/profile_sealed.py, same options and measurement.)
"""
from __future__ import annotations

import os
import secrets
import time

import numpy as np
import torch

from ... import hub
from ...errors import ConfigError
from ...io.tensors import to_float
from ...keys import Key
from ...nae import margin_of
from ...noise import noise_image
from ...schemes.sealed import BASE, NONCE_BYTES, SealedConfig, coarse_attack, fine_digits, seal_stream
from .common import machine


def parse_cfg(text: str) -> SealedConfig:
    """'lr=0.1,margin=5,max_steps=300' -> SealedConfig (ValueError naming an unknown field)."""
    kw, base = {}, SealedConfig()
    for part in filter(None, text.split(",")):
        k, sep, v = part.partition("=")
        if not sep or not hasattr(base, k):
            raise ConfigError(f"--cfg {text!r}: {part!r} is not FIELD=VALUE of a SealedConfig field")
        kw[k] = type(getattr(base, k))(float(v)) if k != "lr" and k != "margin" else float(v)
    return SealedConfig(**kw)


def load_images(a):
    """(classifier, seeded images of --split, key, fine digits, initial noise, plaintext labels)."""
    from ...datasets import load_dataset
    loaded = hub.load_classifier(a.classifier)
    clf = loaded.module.eval()
    for p in clf.parameters():
        p.requires_grad_(False)
    ds = load_dataset(a.data, a.split)
    idx = np.sort(np.random.default_rng(a.seed).permutation(len(ds))[:a.n])
    imgs = [ds.x[i] for i in idx]
    key = Key.generate()
    x = to_float(imgs)
    with torch.no_grad():
        logits = clf(x)
    top2 = logits.topk(2, 1).values
    print(f"plaintext logit gap (top1 - top2): median {float((top2[:, 0] - top2[:, 1]).median()):.2f}; "
          f"max logit median {float(top2[:, 0].median()):.2f}")
    fines, inits = [], []
    for im in imgs:
        nonce = secrets.token_bytes(NONCE_BYTES)
        stream, _ = seal_stream(key, im, nonce)
        fines.append(torch.from_numpy(fine_digits(stream, im.shape)).permute(2, 0, 1))
        inits.append(noise_image(key, nonce + bytes(4), (3, *im.shape[:2])))
    return loaded, torch.stack(fines), torch.stack(inits), logits.argmax(1)


def attack_row(a, clf, fine, init, target, text: str, note: str = "") -> str:
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
    return (f"| {text or 'default'}{note} | {int(done.sum())}/{a.n} | {int(ok.sum())}/{a.n} | {st} | {dt:.2f} | "
            f"{float(m.median()):.2f} |")


def run(a) -> int:
    for text in a.cfg:
        parse_cfg(text)   # every --cfg checked before the first (slow) attack
    torch.set_num_threads(a.threads)
    loaded, fine, init, target = load_images(a)
    clf = loaded.module
    starts = hub.load_class_starts(loaded)
    print(f"n={a.n} {a.split} images of {os.path.basename(a.data)} (seed {a.seed}), classifier {a.classifier}, "
          f"{a.threads} thread(s), load {os.getloadavg()[0]:.2f}")
    print(f"machine: {machine(a.threads)}")
    print("| config | success | labelled ŷ | steps median / max | s/img | real-payload margin median |")
    print("|---|---|---|---|---|---|")
    for text in a.cfg or [""]:
        print(attack_row(a, clf, fine, init, target, text), flush=True)
        if starts is not None:   # the same attack from the classifier's class starts (what encryption uses)
            moves = starts.moves_at_random(len(init), init.shape, torch.Generator().manual_seed(a.seed))
            print(attack_row(a, clf, fine, starts.blend(init, target, moves), target, text,
                             f" + class starts {starts.digest} (α {starts.alpha})"), flush=True)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return 0
