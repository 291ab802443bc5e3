"""`ric bench schemes`: paper vs sealed scheme, encrypt and decrypt, in memory and through files, on CIFAR-10
test images with the shipped cifar10 pair.

  ric bench schemes [--data ../shared/data/cifar10.npz] [--n 200] [--threads 2] [--files-only] [--repeat R]
                    [--workers W]
Prints a Markdown table (seconds per image), the machine and its load average. Run on an otherwise idle
machine. --files-only skips the in-memory rows; --repeat R times each decryption R times and keeps the
fastest (fewer surprises from other jobs); --workers sets the sealed file decryption's threads. The speed-up
lines also give the ratio of CPU time (all threads), which a loaded machine distorts less than wall time.
(Formerly scripts/bench_schemes.py, same options and measurements.)
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time

import numpy as np
import torch
from PIL import Image

from ... import hub
from ...io.tensors import to_float
from ...keys import Key
from ...schemes.paper.codec import RICCodec
from ...schemes.sealed import SealedCodec, open_sealed_pixels
from . import _engine
from .common import machine, table


def per_image(f, n):
    t = time.perf_counter()
    f()
    return (time.perf_counter() - t) / n


class Timer:
    """Best-of-`repeat` wall time per image; the best CPU time (time.process_time: all threads, less
    load-sensitive) per image of each named row."""

    def __init__(self, repeat: int):
        self.repeat, self.cpu = repeat, {}

    def best(self, f, n, name=None):
        walls = []
        for _ in range(self.repeat):
            c = time.process_time()
            walls.append(per_image(f, n))
            if name:
                self.cpu[name] = min(self.cpu.get(name, float("inf")), (time.process_time() - c) / n)
        return min(walls)


def run(a) -> int:
    if not os.path.exists(a.data):
        raise FileNotFoundError(f"{a.data}: no such dataset (--data names a CIFAR-10 .npz with x_test)")
    load0 = os.getloadavg()[0]
    torch.set_num_threads(a.threads)
    d = np.load(a.data)
    x = d["x_test"][np.sort(np.random.default_rng(0).permutation(len(d["x_test"]))[:a.n])]
    model, clf = hub.load_ric_model("cifar10"), hub.load_classifier("cifar10")
    key = Key.generate()
    rows, sizes, timer = {}, {}, Timer(a.repeat)
    if not a.files_only:
        in_memory(a, timer, x, model, clf, key, rows)
    files(a, timer, x, model, clf, key, rows, sizes)
    report(a, timer, rows, sizes, load0)
    return 0


def report(a, timer: Timer, rows: dict, sizes: dict, load0: float) -> None:
    print(f"machine: {machine(a.threads)}; load average {load0:.2f} at the start, {os.getloadavg()[0]:.2f} at the "
          f"end; n={a.n} test images of {os.path.basename(a.data)}; sealed fits: {sizes['sealed_n']}/{a.n}; "
          f"decryption: best of {a.repeat}")
    print(table(["path", "encrypt s/img", "decrypt s/img"],
                [[k, f"{e:.4f}", f"{dd:.5f}"] for k, (e, dd) in rows.items()]))
    print(f"ciphertext PNG size, mean bytes: paper {sizes['paper']:.0f}, sealed {sizes['sealed']:.0f}")
    cpu = timer.cpu
    for k in rows:
        if k.startswith("sealed"):
            kind = "in memory" if "memory" in k else "files"
            print(f"decrypt speed-up of {k} over paper, {kind}: {rows['paper, ' + kind][1] / rows[k][1]:.0f}x "
                  f"(wall), {cpu['paper, ' + kind] / cpu[k]:.0f}x (CPU time: {cpu['paper, ' + kind] * 1e3:.2f} vs "
                  f"{cpu[k] * 1e3:.3f} ms/img)")


def in_memory(a, timer: Timer, x, model, clf, key, rows) -> None:
    xt = to_float(x)
    paper = RICCodec(model.module, clf.module)
    enc = None

    def p_enc():
        nonlocal enc
        enc = paper.encrypt(xt, key)
    rows["paper, in memory"] = [per_image(p_enc, a.n)]
    rows["paper, in memory"].append(timer.best(
        lambda: paper.decrypt(enc, key), a.n, "paper, in memory"))   # per-image Φ settings (retries escalate)
    sc = SealedCodec(clf.module)
    res = None

    def s_enc():
        nonlocal res
        res = sc.encrypt(list(x), key)
    rows["sealed, in memory"] = [per_image(s_enc, a.n)]
    ok = [c for c in res.cipher if c is not None]
    rows["sealed, in memory"].append(timer.best(lambda: [open_sealed_pixels(key, c) for c in ok], len(ok),
                                                "sealed, in memory"))


def fresh(d: str) -> str:
    shutil.rmtree(d, ignore_errors=True)
    return d


def files(a, timer: Timer, x, model, clf, key, rows, sizes) -> None:
    """Through files: what `ric encrypt` / `ric decrypt` do, minus process start-up (decryption reads the files)."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, img in enumerate(x):
            p = os.path.join(tmp, f"p{i:04d}.png")
            Image.fromarray(img).save(p)
            paths.append(p)
        eng = _engine.PaperFiles(model, clf)
        out = {}
        rows["paper, files"] = [per_image(lambda: out.setdefault("p", eng.encrypt(key, paths, os.path.join(tmp, "pe"))),
                                          a.n)]
        pc = [r.out for r in out["p"] if r.out]
        rows["paper, files"].append(timer.best(lambda: eng.decrypt(key, pc, fresh(os.path.join(tmp, "pd"))), len(pc),
                                               "paper, files"))
        rows["sealed, files"] = [per_image(lambda: out.setdefault("s", _engine.sealed_encrypt_files(
            clf, key, paths, os.path.join(tmp, "se"))), a.n)]
        scs = [r.out for r in out["s"] if r.out]
        for w in a.workers:
            name = "sealed, files" + (f", {w} thread(s)" if w else "")
            rows[name] = [rows["sealed, files"][0], timer.best(lambda: _engine.sealed_decrypt_files(
                key, scs, fresh(os.path.join(tmp, "sd")), workers=w or None), len(scs), name)]
        if a.workers != [0]:
            del rows["sealed, files"]
        sizes.update({k: np.mean([os.path.getsize(p) for p in v]) for k, v in (("paper", pc), ("sealed", scs))})
        sizes["sealed_n"] = len(scs)
