"""Class starts side by side at 32×32: paper-scheme encryption (format ric/3's codec, as `ric bench speed` times it)
of the 200 CIFAR-10 test images `ric bench speed --size 32` uses (seed 0), one key, seeded nonces, from each
starts file given, in one process, one thread. Prints per file: encrypt ms/image, Φ steps, the share of images at
the margin before Φ, the ciphertexts' histogram distance from their keyed noise, and the correlation of every pair
of same-label ciphertexts (ric.lab.bench.noise_like.correlation: pixel level at 32 px) — for starts that move,
pairs whose two images drew the same placement are counted apart.
usage (from the project root): PYTHONPATH=src python scripts/class_starts_compare.py STARTS.safetensors ..."""
import itertools
import os
import sys
import time

import numpy as np
import torch

from ric.allocator import keep_freed_memory
from ric.hub import load_classifier, load_ric_model
from ric.keys import Key, seeded_nonces
from ric.lab.bench.noise_like import correlation
from ric.noise import noise_image
from ric.schemes.paper.scheme import PaperScheme
from ric.starts import histogram_distance, load_starts

keep_freed_memory()
torch.set_num_threads(1)
x = np.load("../shared/data/cifar10.npz")["x_test"]
x = x[np.sort(np.random.default_rng(0).permutation(len(x))[:200])]
xt = torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255
clf, key = load_classifier("cifar10"), Key(bytes(range(32)))
print(f"load average {os.getloadavg()[0]:.2f}; {len(x)} images; classifier {clf.identity}")
print("| starts | moves | α | encrypt ms/img | Φ steps mean / p90 / max | at the margin before Φ | TV from the noise | "
      "same-label pairs | correlation max / mean | share > 0.1 | same placement: pairs, max |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for path in sys.argv[1:]:
    s = load_starts(path)
    sch = PaperScheme(load_ric_model("cifar10"), clf, nonce_source=seeded_nonces(0))
    sch.codec.use_starts(s)
    sch.codec.encrypt(xt[:16], key)                                  # warm-up
    t = time.perf_counter()
    enc = sch.codec.encrypt(xt, key)
    ms = (time.perf_counter() - t) / len(xt) * 1e3
    steps = torch.tensor(enc.steps, dtype=torch.float32)
    noise = torch.stack([noise_image(key, n, (3, 32, 32)) for n in enc.nonces])
    tv = histogram_distance(enc.cipher.float() / 255, noise)
    moves = s.moves_for(key, enc.nonces, (3, 32, 32))
    cs, same = [], []
    for i, j in itertools.combinations(range(len(xt)), 2):
        if enc.labels[i] != enc.labels[j]:
            continue
        c = correlation(enc.cipher[i].numpy(), enc.cipher[j].numpy())
        (same if moves is not None and torch.equal(moves[i], moves[j]) else cs).append(c)
    cs = np.array(cs)
    tail = f"{len(same)}, {max(same):.3f}" if same else "0"
    print(f"| `{s.digest}` | {s.moves or 'fixed'} | {s.alpha} | {ms:.2f} | {steps.mean():.2f} / "
          f"{torch.quantile(steps, 0.9):.0f} / {steps.max():.0f} | {(steps == 0).float().mean():.0%} | {tv:.3f} | "
          f"{len(cs)} | {cs.max():.3f} / {cs.mean():.3f} | {np.mean(cs > 0.1):.1%} | {tail} |", flush=True)
print(f"load average at the end {os.getloadavg()[0]:.2f}")
