"""Benchmark: paper vs sealed scheme, encrypt and decrypt, in memory and through files, on CIFAR-10 test images.

usage: python scripts/bench_schemes.py [--data ../shared/data/cifar10.npz] [--n 200] [--threads 2]
                                      [--files-only] [--repeat R] [--workers W]
Prints a Markdown table (seconds per image), the machine and its load average. Run on an otherwise idle
machine. --files-only skips the in-memory rows; --repeat R times each decryption R times and keeps the
fastest (fewer surprises from other jobs); --workers sets the sealed file decryption's threads. The speed-up
lines also give the ratio of CPU time (all threads), which a loaded machine distorts less than wall time.
"""
import argparse
import os
import platform
import tempfile
import time

import numpy as np
import torch
from PIL import Image

from ric import hub
from ric.files.engine import Engine, sealed_decrypt_files, sealed_encrypt_files
from ric.io.container import sniff
from ric.keys import Key
from ric.schemes.paper.codec import RICCodec
from ric.schemes.sealed import SealedCodec, open_sealed_pixels


def per_image(f, n):
    t = time.perf_counter()
    f()
    return (time.perf_counter() - t) / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data/cifar10.npz")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--files-only", action="store_true")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--workers", default="0", help="sealed file decryption threads, comma-separated to compare "
                    "(0: its default)")
    a = ap.parse_args()
    load0 = os.getloadavg()[0]
    torch.set_num_threads(a.threads)
    d = np.load(a.data)
    x = d["x_test"][np.sort(np.random.default_rng(0).permutation(len(d["x_test"]))[:a.n])]
    model, clf = hub.load_ric_model("cifar10"), hub.load_classifier("cifar10")
    key = Key.generate()
    rows = {}
    if not a.files_only:
        in_memory(a, x, model, clf, key, rows)
    files(a, x, model, clf, key, rows, sizes := {})
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{a.threads} threads; load average {load0:.2f} at the start, {os.getloadavg()[0]:.2f} at the end; "
          f"n={a.n} test images of {os.path.basename(a.data)}; sealed fits: {sizes['sealed_n']}/{a.n}; "
          f"decryption: best of {a.repeat}")
    print("| path | encrypt s/img | decrypt s/img |")
    print("|---|---|---|")
    for k, (e, dd) in rows.items():
        print(f"| {k} | {e:.4f} | {dd:.5f} |")
    print(f"ciphertext PNG size, mean bytes: paper {sizes['paper']:.0f}, sealed {sizes['sealed']:.0f}")
    for k in rows:
        if k.startswith("sealed"):
            kind = "in memory" if "memory" in k else "files"
            print(f"decrypt speed-up of {k} over paper, {kind}: {rows['paper, ' + kind][1] / rows[k][1]:.0f}x "
                  f"(wall), {CPU['paper, ' + kind] / CPU[k]:.0f}x (CPU time: {CPU['paper, ' + kind] * 1e3:.2f} vs "
                  f"{CPU[k] * 1e3:.3f} ms/img)")


CPU = {}   # row name -> best decryption CPU time per image (time.process_time: all threads, less load-sensitive)


def best(a, f, n, name=None):
    walls = []
    for _ in range(a.repeat):
        c = time.process_time()
        walls.append(per_image(f, n))
        if name:
            CPU[name] = min(CPU.get(name, float("inf")), (time.process_time() - c) / n)
    return min(walls)


def in_memory(a, x, model, clf, key, rows):
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255
    paper = RICCodec(model.module, clf.module)
    enc = None

    def p_enc():
        nonlocal enc
        enc = paper.encrypt(xt, key)
    rows["paper, in memory"] = [per_image(p_enc, a.n)]
    rows["paper, in memory"].append(best(a,
        lambda: paper.decrypt(enc.cipher, key, enc.nonces, enc.labels, enc.fingerprints), a.n, "paper, in memory"))
    sc = SealedCodec(clf.module)
    res = None

    def s_enc():
        nonlocal res
        res = sc.encrypt(list(x), key)
    rows["sealed, in memory"] = [per_image(s_enc, a.n)]
    ok = [c for c in res.cipher if c is not None]
    rows["sealed, in memory"].append(best(a, lambda: [open_sealed_pixels(key, c) for c in ok], len(ok),
                                          "sealed, in memory"))


def files(a, x, model, clf, key, rows, sizes):
    """Through files: what `ric encrypt` / `ric decrypt` do, minus process start-up (decryption reads the files)."""
    import shutil
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, img in enumerate(x):
            p = os.path.join(tmp, f"p{i:04d}.png")
            Image.fromarray(img).save(p)
            paths.append(p)
        eng = Engine(model, clf, show_progress=False)
        out = {}
        rows["paper, files"] = [per_image(lambda: out.setdefault("p", eng.encrypt_files(
            key, paths, os.path.join(tmp, "pe"))), a.n)]
        pc = [r.out for r in out["p"] if r.out]
        def fresh(d):
            shutil.rmtree(d, ignore_errors=True)
            return d
        rows["paper, files"].append(best(a, lambda: eng.decrypt_files(key, pc, fresh(os.path.join(tmp, "pd"))),
                                         len(pc), "paper, files"))
        rows["sealed, files"] = [per_image(lambda: out.setdefault("s", sealed_encrypt_files(
            clf, key, paths, os.path.join(tmp, "se"), show_progress=False)), a.n)]
        scs = [r.out for r in out["s"][0] if r.out]
        for w in [int(v) for v in a.workers.split(",")]:
            name = "sealed, files" + (f", {w} thread(s)" if w else "")
            rows[name] = [rows["sealed, files"][0], best(a, lambda: sealed_decrypt_files(
                key, {p: sniff(p)[1] for p in scs}, fresh(os.path.join(tmp, "sd")), workers=w or None), len(scs),
                name)]
        if a.workers != "0":
            del rows["sealed, files"]
        sizes.update({k: np.mean([os.path.getsize(p) for p in v]) for k, v in (("paper", pc), ("sealed", scs))})
        sizes["sealed_n"] = len(scs)


if __name__ == "__main__":
    main()
