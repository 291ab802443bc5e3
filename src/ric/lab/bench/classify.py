"""`ric bench classify`: classification throughput (the cloud's forward pass) of a classifier on test images,
per image, best of `--repeat`, in batches of `--batch`.

  ric bench classify --classifier celeba160 --data celeba_faces_160.npz
(Formerly scripts/bench_classify.py, same options and measurement.)
"""
from __future__ import annotations

import os
import time

import numpy as np
import torch

from ... import hub
from ...io.tensors import to_float
from .common import machine_line, table


def measure(c, x, batch: int, repeat: int) -> float:
    """Best (minimum) seconds per image over `repeat` passes, after one untimed warm-up batch."""
    best = float("inf")
    with torch.inference_mode():
        c(x[:batch])   # warm-up
        for _ in range(repeat):
            t = time.perf_counter()
            for s in range(0, len(x), batch):
                c(x[s:s + batch]).argmax(1)
            best = min(best, (time.perf_counter() - t) / len(x))
    return best


def run(a) -> int:
    path = os.path.join(a.root, a.data)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such dataset (--data is an .npz in --root, which is {a.root})")
    torch.set_num_threads(a.threads)
    c = hub.load_classifier(a.classifier).module.eval()
    x = to_float(np.load(path)["x_test"][:a.n])
    load0 = os.getloadavg()[0]
    best = measure(c, x, a.batch, a.repeat)
    load1 = os.getloadavg()[0]
    print(machine_line(a.threads, load0, load1))
    print(table(["classifier", "images", "size", "batch", "ms/img", "img/s"],
                [[a.classifier, len(x), "x".join(map(str, x.shape[2:])), a.batch, f"{1000 * best:.2f}",
                  f"{1 / best:.1f}"]]))
    print(f"{a.classifier} on {len(x)} images {tuple(x.shape[2:])}: {1000 * best:.2f} ms/img, {1 / best:.1f} img/s "
          f"(batch {a.batch}, {a.threads} thread(s), load {load0:.2f} -> {load1:.2f})")
    return 0
