"""`ric demo`: the whole workflow, offline, on the bundled samples: the ten CIFAR-10 images with the shipped
default pair (both schemes), and, when the `pretrained` extra is installed, the bundled real photos with the
ImageNet classifier `efficientnet-lite0` behind its stock input pipeline (sealed scheme). It prints a table for
each and draws the figures with Pillow (ric.grid), so it needs no extra."""
from __future__ import annotations

import os
import sys
import time

import torch

from . import hub
from .errors import OutputExistsError
from .files.classify import classify_files
from .files.engine import decrypt_files, encrypt_files
from .grid import image_grid
from .keys import Key
from .metrics import psnr_per_image, ssim

SAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "samples")
PHOTOS = os.path.join(SAMPLES, "photos")
PHOTO_CLASSIFIER = "efficientnet-lite0"
CIFAR_ROWS = ("plaintext", "sealed ciphertext", "sealed recovered", "paper ciphertext", "paper recovered")
PHOTO_ROWS = ("plaintext", "sealed ciphertext", "recovered")
CIFAR_CELL, PHOTO_CELL = 96, 192
_MARK = ".ric-demo"


def sample_files() -> list[str]:
    return sorted(os.path.join(SAMPLES, f) for f in os.listdir(SAMPLES) if f.endswith(".png"))


def photo_files() -> list[str]:
    return sorted(os.path.join(PHOTOS, f) for f in os.listdir(PHOTOS) if f.endswith(".jpg"))


def _prepare(out: str) -> None:
    if os.path.isdir(out) and os.listdir(out) and not os.path.exists(os.path.join(out, _MARK)):
        raise OutputExistsError(f"{out} exists and was not made by `ric demo`; choose another --out")
    os.makedirs(out, exist_ok=True)
    open(os.path.join(out, _MARK), "w").close()
    for base in (out, os.path.join(out, "photos")):
        for sub in ("cipher", "recovered"):
            for scheme in ("sealed", "paper"):
                d = os.path.join(base, sub, scheme)
                if os.path.isdir(d):
                    for f in os.listdir(d):
                        os.remove(os.path.join(d, f))


def _load(paths) -> torch.Tensor:
    from .io.images import load_image
    from .io.tensors import to_float
    return to_float([load_image(p) for p in paths])


def _images(paths) -> list[torch.Tensor]:
    """One float (3, H, W) image per file (the photos differ in size)."""
    return [_load([p])[0] for p in paths]


def _progress(text: str) -> None:
    print(text, flush=True)


def _run_scheme(scheme, key, samples, out: str, device):
    """Encrypt the samples with `scheme`, decrypt them: (ciphertext paths, recovered paths, errors)."""
    from .schemes import Resolver
    enc = encrypt_files(scheme, key, samples, os.path.join(out, "cipher", scheme.name))
    ciphers = [r.out for r in enc if r.out]
    dec = decrypt_files(Resolver(device), key, ciphers, os.path.join(out, "recovered", scheme.name))
    return ciphers, [r.out for r in dec], [r for r in enc + dec if r.error is not None]


def _report_errors(errors) -> bool:
    for r in errors:
        print(f"ric: error: {r.error}", file=sys.stderr)
    return not errors


def run_demo(out: str = "ric-demo", device="cpu") -> int:
    """The CIFAR-10 part, then the photo part (or one line saying how to get it); 0 when every step worked and
    every sealed recovery is exact."""
    t0 = time.time()
    _prepare(out)
    key_path = os.path.join(out, "demo.key")
    if os.path.exists(key_path):
        os.remove(key_path)
    Key.generate().save(key_path)
    key = Key.load(key_path)
    ok = cifar10_part(key, out, device)
    if ok is None:
        return 1
    photos_ok = photo_part(key, out, device)
    print(f"ric demo: {time.time() - t0:.1f} s on {device}")
    return 0 if ok and photos_ok else 1


def cifar10_part(key, out: str, device) -> bool | None:
    """Both schemes on the ten CIFAR-10 samples with the shipped default pair: a table and demo.png. None when a
    file failed (its errors printed), else whether every sealed recovery is bit-exact."""
    t0 = time.time()
    samples = sample_files()
    model, clf = hub.load_ric_model(hub.DEFAULT, device), hub.load_classifier(hub.DEFAULT, device)
    from .schemes.paper.scheme import PaperScheme
    from .schemes.sealed.scheme import SealedScheme
    runs = {}
    for s in (SealedScheme(clf, device), PaperScheme(model, clf, device)):
        _progress(f"{s.name} scheme: encrypting and decrypting the {len(samples)} CIFAR-10 samples ({hub.DEFAULT} "
                  f"classifier) ...")
        runs[s.name] = _run_scheme(s, key, samples, out, device)
    if not _report_errors([r for run in runs.values() for r in run[2]]):
        return None
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
    images = dict(zip(CIFAR_ROWS, (x, _load(runs["sealed"][0]), rec["sealed"], _load(runs["paper"][0]),
                                   rec["paper"])))
    captions = {"plaintext": [name(r.label) for r in plain_lab],
                "sealed ciphertext": [name(r.label) for r in labels["sealed"]],
                "sealed recovered": ["exact" if e else "DIFFERS" for e in exact],
                "paper ciphertext": [name(r.label) for r in labels["paper"]],
                "paper recovered": [f"{v:.1f} dB" for v in p.tolist()]}
    image_grid(images, col_titles=[os.path.basename(s).split("_")[0] for s in samples], captions=captions,
               cell=CIFAR_CELL).save(fig_path)
    print(f"figure (plaintext | each scheme's ciphertext and recovered image, labels under them): {fig_path}")
    return all(exact)


def photo_part(key, out: str, device) -> bool:
    """The bundled photos through `efficientnet-lite0` (sealed scheme): a table and photos.png; without the
    pretrained extra, one line saying how to get it (True). False when a file failed or a recovery differs."""
    from .classifiers.pretrained import EXTRA, installed
    if not installed(PHOTO_CLASSIFIER):
        print(f"real photos: skipped, they need the ImageNet classifier {PHOTO_CLASSIFIER}: "
              f"pip install 'ric[{EXTRA}]'")
        return True
    t0 = time.time()
    photos = photo_files()
    clf = hub.load_classifier(PHOTO_CLASSIFIER, device)
    from .schemes.sealed.scheme import SealedScheme
    _progress(f"sealed scheme: encrypting and decrypting the {len(photos)} bundled photos ({PHOTO_CLASSIFIER} "
              f"classifier behind its stock input pipeline) ...")
    d = os.path.join(out, "photos")
    ciphers, recovered, errors = _run_scheme(SealedScheme(clf, device), key, photos, d, device)
    if not _report_errors(errors):
        return False
    plain_lab, ct_lab = classify_files(clf, photos, device), classify_files(clf, ciphers, device)
    same = [_same_bytes(a, b) for a, b in zip(photos, recovered)]
    from .imagenet_names import imagenet_names
    names = imagenet_names()
    label = lambda i: class_label(i, names)  # noqa: E731
    print(f"{'photo':<16} {'plaintext':<24} {'sealed ciphertext':<24} {'recovered':>14}")
    for i, path in enumerate(photos):
        print(f"{os.path.basename(path):<16} {label(plain_lab[i].label):<24} {label(ct_lab[i].label):<24} "
              f"{'same file' if same[i] else 'DIFFERS':>14}")
    kept = sum(a.label == b.label for a, b in zip(plain_lab, ct_lab))
    print(f"photo labels kept: {kept}/{len(photos)} ({PHOTO_CLASSIFIER}, ImageNet-1k); recovered files "
          f"byte-identical {sum(same)}/{len(photos)}; {time.time() - t0:.1f} s on {device}")
    if names is None:
        from .imagenet_names import PIP_NAME
        print(f"labels are ImageNet-1k class indices (class names: pip install {PIP_NAME})")
    fig_path = os.path.join(out, "photos.png")
    images = dict(zip(PHOTO_ROWS, (_images(photos), _images(ciphers), _images(recovered))))
    captions = {"plaintext": [label(r.label) for r in plain_lab],
                "sealed ciphertext": [label(r.label) for r in ct_lab],
                "recovered": ["same file" if s else "DIFFERS" for s in same]}
    image_grid(images, col_titles=[os.path.basename(p) for p in photos], captions=captions,
               cell=PHOTO_CELL).save(fig_path)
    print(f"figure (photo | sealed ciphertext | recovered, labels under them): {fig_path}")
    return all(same)


def _same_bytes(a: str, b: str) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        return fa.read() == fb.read()


def class_label(i: int, names: list[str] | None) -> str:
    """"index name" (e.g. "285 Egyptian cat"), or the index alone when there are no names."""
    return f"{i} {names[i]}" if names is not None and 0 <= i < len(names) else str(i)
