"""What a lone image costs in Φ with the configured slot count (chunk 8: every slot is computed at every step) and
with the slot count `ric.schemes.paper.codec.fit_chunk` gives it (1). A retried image is often alone in its group, so this is
the cost of a retry. Prints a table (ms per Φ step, per chunk), with the machine's thread count.

usage: python scripts/bench_phi_chunk.py [MODEL] [--steps S] [--n N] [--threads T]

MODEL is a shipped pair (default celeba64): its RIC model's encryption Φ settings and its classifier are used, at
its image size. Φ is run with an unreachable margin so that every run takes exactly S steps.
"""
import argparse
import dataclasses
import hashlib
import time

import torch

from ric import hub
from ric.files.engine import model_phi
from ric.keys import Key
from ric.nae import generate_nae
from ric.noise import noise_image
from ric.schemes.paper.codec import fit_chunk

SIZES = {"mnist": 28, "cifar10": 32, "celeba64": 64, "celeba160": 160}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", nargs="?", default="celeba64")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--n", type=int, default=3, help="lone images, each timed alone")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    m = hub.load_ric_model(a.model)
    clf = hub.load_classifier(a.model)   # the pair's shipped classifier (the model may record an older one)
    c = clf.module.eval()
    size = SIZES.get(a.model, 32)
    base = dataclasses.replace(model_phi(m), max_steps=a.steps, margin=1e9)
    key = Key(hashlib.sha256(b"bench_phi_chunk").digest())
    print(f"model {m.identity}, classifier {clf.identity}, {size}x{size}, {a.steps} steps, threads {a.threads}")
    print("\n| slots (chunk) | image | ms per Φ step |\n|---|---|---|")
    noises = [noise_image(key, hashlib.sha256(str(i).encode()).digest()[:16], (3, size, size))[None]
              for i in range(a.n)]
    with torch.no_grad():
        n_classes = c(noises[0]).shape[1]
    per = {}
    for chunk in (base.chunk, fit_chunk(base, 1).chunk):
        cfg = dataclasses.replace(base, chunk=chunk)
        for i, noise in enumerate(noises):
            t = time.perf_counter()
            r = generate_nae(c, noise, torch.tensor([i % n_classes]), cfg)
            ms = 1000 * (time.perf_counter() - t) / max(1, int(r.steps[0]))
            per.setdefault(chunk, []).append(ms)
            print(f"| {chunk} | {i} | {ms:.1f} |")
    a8, a1 = (sum(v) / len(v) for v in per.values())
    print(f"\nmean: {a8:.1f} ms/step with {base.chunk} slots, {a1:.1f} ms/step with 1: a lone retry is "
          f"{a8 / a1:.1f}x faster")


if __name__ == "__main__":
    main()
