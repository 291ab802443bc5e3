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
        for scheme in ("sealed", "paper"):
            d = os.path.join(out, sub, scheme)
            if os.path.isdir(d):
                for f in os.listdir(d):
                    os.remove(os.path.join(d, f))


def _load(paths) -> torch.Tensor:
    from .io.images import load_image
    from .io.tensors import to_float
    return to_float([load_image(p) for p in paths])


def _run_scheme(scheme, key, samples, out: str, device):
    """Encrypt the samples with `scheme`, decrypt them: (ciphertext paths, recovered paths, errors)."""
    from .schemes import Resolver
    enc = encrypt_files(scheme, key, samples, os.path.join(out, "cipher", scheme.name))
    ciphers = [r.out for r in enc if r.out]
    dec = decrypt_files(Resolver(device), key, ciphers, os.path.join(out, "recovered", scheme.name))
    return ciphers, [r.out for r in dec], [r for r in enc + dec if r.error is not None]


def run_demo(out: str = "ric-demo", device="cpu") -> int:
    """Both schemes on the bundled samples: the sealed scheme (the default: lossless) and the paper's (lossy)."""
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
    from .schemes.paper.scheme import PaperScheme
    from .schemes.sealed.scheme import SealedScheme
    runs = {s.name: _run_scheme(s, key, samples, out, device)
            for s in (SealedScheme(clf, device), PaperScheme(model, clf, device))}
    errors = [r for run in runs.values() for r in run[2]]
    for r in errors:
        print(f"ric: error: {r.error}", file=sys.stderr)
    if errors:
        return 1
    plain_lab = classify_files(clf, samples, device)
    labels = {name: classify_files(clf, run[0], device) for name, run in runs.items()}
    x = _load(samples)
    rec = {name: _load(run[1]) for name, run in runs.items()}
    p = psnr_per_image(rec["paper"], x)
    exact = [bool((rec["sealed"][i] == x[i]).all()) for i in range(len(samples))]
    name = lambda i: clf.classes[i] if i < len(clf.classes) else str(i)  # noqa: E731
    print(f"{'image (true class)':<22} {'plaintext':<11} {'sealed ct':<11} {'paper ct':<11} {'sealed':>9} "
          f"{'paper dB':>9} {'paper SSIM':>11}")
    for i, s in enumerate(samples):
        print(f"{os.path.basename(s):<22} {name(plain_lab[i].label):<11} {name(labels['sealed'][i].label):<11} "
              f"{name(labels['paper'][i].label):<11} {'exact' if exact[i] else 'DIFFERS':>9} {p[i].item():9.2f} "
              f"{ssim(rec['paper'][i:i + 1], x[i:i + 1]).item():11.4f}")
    kept = {k: sum(a.label == b.label for a, b in zip(plain_lab, v)) for k, v in labels.items()}
    print(f"labels kept: sealed {kept['sealed']}/{len(samples)}, paper {kept['paper']}/{len(samples)}; sealed "
          f"recovery bit-exact {sum(exact)}/{len(samples)}; paper mean PSNR {p.mean().item():.2f} dB, SSIM "
          f"{ssim(rec['paper'], x).item():.4f}; {time.time() - t0:.1f} s on {device}")
    fig_path = os.path.join(out, "demo.png")
    save_figure({"plaintext": x, "sealed ciphertext": _load(runs["sealed"][0]), "sealed recovered": rec["sealed"],
                 "paper ciphertext": _load(runs["paper"][0]), "paper recovered": rec["paper"]},
                [os.path.basename(s).split("_")[0] for s in samples], fig_path)
    print(f"figure (plaintext | each scheme's ciphertext and recovered image): {fig_path}")
    return 0 if all(exact) else 1


def save_figure(rows: dict, titles, path) -> None:
    """One row per entry of `rows` (name -> images), one column per image."""
    fig = plots.image_grid(rows, col_titles=titles, what="ric demo")
    plots.save(fig, path, dpi=120)
