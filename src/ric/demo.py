"""`ric demo`: the whole workflow on the bundled sample images, offline, with the shipped default pair."""
from __future__ import annotations

import os
import sys
import time

import torch

from . import hub, plots
from .errors import OutputExistsError
from .files.classify import classify_files
from .files.engine import decrypt_files, encrypt_files
from .keys import Key
from .metrics import psnr_per_image, ssim

SAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "samples")
_MARK = ".ric-demo"


def _prepare(out: str) -> None:
    if os.path.isdir(out) and os.listdir(out) and not os.path.exists(os.path.join(out, _MARK)):
        raise OutputExistsError(f"{out} exists and was not made by `ric demo`; choose another --out")
    os.makedirs(out, exist_ok=True)
    open(os.path.join(out, _MARK), "w").close()
    for sub in ("cipher", "recovered"):
        d = os.path.join(out, sub)
        if os.path.isdir(d):
            for f in os.listdir(d):
                os.remove(os.path.join(d, f))


def _load(paths) -> torch.Tensor:
    from .io.images import load_image
    from .io.tensors import to_float
    return to_float([load_image(p) for p in paths])


def run_demo(out: str = "ric-demo", device="cpu") -> int:
    t0 = time.time()
    plots.require("ric demo")   # before a minute of work, not after it
    _prepare(out)
    key_path = os.path.join(out, "demo.key")
    if os.path.exists(key_path):
        os.remove(key_path)
    Key.generate().save(key_path)
    key = Key.load(key_path)
    samples = sorted(os.path.join(SAMPLES, f) for f in os.listdir(SAMPLES) if f.endswith(".png"))
    model, clf = hub.load_ric_model(hub.DEFAULT, device), hub.load_classifier(hub.DEFAULT, device)
    from .schemes import Resolver
    from .schemes.paper.scheme import PaperScheme
    enc = encrypt_files(PaperScheme(model, clf, device), key, samples, os.path.join(out, "cipher"))
    ciphers = [r.out for r in enc if r.out]
    dec = decrypt_files(Resolver(device), key, ciphers, os.path.join(out, "recovered"))
    errors = [r for r in enc + dec if r.error is not None]
    for r in errors:
        print(f"ric: error: {r.error}", file=sys.stderr)
    if errors:
        return 1
    plain_lab = classify_files(clf, samples, device)
    ciph_lab = classify_files(clf, ciphers, device)
    recovered = [r.out for r in dec]
    x, c, z = _load(samples), _load(ciphers), _load(recovered)
    p = psnr_per_image(z, x)
    name = lambda i: clf.classes[i] if i < len(clf.classes) else str(i)  # noqa: E731
    print(f"{'image (true class)':<22} {'plaintext label':<16} {'ciphertext label':<17} {'PSNR dB':>8} {'SSIM':>7}")
    for i, s in enumerate(samples):
        print(f"{os.path.basename(s):<22} {name(plain_lab[i].label):<16} {name(ciph_lab[i].label):<17} "
              f"{p[i].item():8.2f} {ssim(z[i:i + 1], x[i:i + 1]).item():7.4f}")
    agree = sum(a.label == b.label for a, b in zip(plain_lab, ciph_lab))
    print(f"labels kept: {agree}/{len(samples)}; mean PSNR {p.mean().item():.2f} dB; SSIM {ssim(z, x).item():.4f}; "
          f"{time.time() - t0:.1f} s on {device}")
    fig_path = os.path.join(out, "demo.png")
    save_figure(x, c, z, [os.path.basename(s).split("_")[0] for s in samples], fig_path)
    print(f"figure (plaintext | ciphertext | recovered): {fig_path}")
    return 0


def save_figure(x, c, z, titles, path) -> None:
    """plaintext | ciphertext | recovered, one column per image."""
    fig = plots.image_grid({"plaintext": x, "ciphertext": c, "recovered": z}, col_titles=titles, what="ric demo")
    plots.save(fig, path, dpi=120)
