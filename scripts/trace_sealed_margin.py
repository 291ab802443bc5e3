"""Trace the sealed coarse attack's margins step by step on CelebA-64 test faces (no early stop).

usage: python scripts/trace_sealed_margin.py LR DRAWS STEPS G1 N [DATA]
    e.g. 0.1 4 150 8 4: lr 0.1, the real payload + 3 random ones per step, 150 steps, margin clamp 8 (so nothing
    stops early), N = 4 seeded test faces (seed 0). DATA defaults to ../shared/data/celeba_faces_64.npz.
Prints every 10 steps, per face, the real payload's margin and the lowest margin of the random payloads.
The loop is coarse_attack's (ric.schemes.sealed) without its early exit. One thread.
"""
import secrets
import sys
import time

import numpy as np
import torch

from ric import hub
from ric.datasets import load_dataset
from ric.keys import Key
from ric.nae import margin_of
from ric.noise import noise_image
from ric.schemes.sealed import BASE, NONCE_BYTES, _ste_round, fine_digits, seal_stream


def main():
    lr, k, steps, g, n = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
    data = sys.argv[6] if len(sys.argv) > 6 else "../shared/data/celeba_faces_64.npz"
    torch.set_num_threads(1)
    clf = hub.load_classifier("celeba64").module.eval()
    for p in clf.parameters():
        p.requires_grad_(False)
    ds = load_dataset(data, "test")
    imgs = [ds.x[i] for i in np.sort(np.random.default_rng(0).permutation(len(ds))[:n])]
    key = Key.generate()
    x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        target = clf(x).argmax(1)
    fines, inits = [], []
    for im in imgs:
        nonce = secrets.token_bytes(NONCE_BYTES)
        stream, _ = seal_stream(key, im, nonce)
        fines.append(torch.from_numpy(fine_digits(stream, im.shape)).permute(2, 0, 1))
        inits.append(noise_image(key, nonce + bytes(4), (3, *im.shape[:2])))
    fine, init = torch.stack(fines).float(), torch.stack(inits)
    w = torch.atanh((init * 2 - 1).clamp(-0.999, 0.999)).requires_grad_(True)
    opt = torch.optim.Adam([w], lr=lr)
    gen = torch.Generator().manual_seed(0)
    t = time.time()
    for s in range(steps + 1):
        lev = _ste_round(2 * (torch.tanh(w) + 1))
        rand = torch.randint(0, BASE, (n, k - 1, *fine.shape[1:]), generator=gen).float()
        b = torch.cat([fine[:, None], rand], 1)
        m = margin_of(clf(((BASE * lev[:, None] + b) / 255).flatten(0, 1)), target.repeat_interleave(k)).view(n, k)
        if s % 10 == 0:
            print(s, "real", [f"{v:.2f}" for v in m[:, 0].tolist()],
                  "minrand", [f"{v:.2f}" for v in m[:, 1:].min(1).values.tolist()], f"{time.time() - t:.0f}s",
                  flush=True)
        loss = torch.clamp(-m, min=-g).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()


if __name__ == "__main__":
    main()
