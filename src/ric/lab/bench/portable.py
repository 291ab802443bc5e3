"""`ric bench portable`: do ciphertexts decrypt to the same pixels under other CPU kernels, and what does it cost?

Test images are written as PNGs and encrypted by the CLI (`ric encrypt`, a fresh process) with each scheme: the
paper scheme writes ric/4, the sealed scheme sealed/2. Each folder is then decrypted by the CLI under the machine's
own ATen kernels and under each of --capabilities (ATEN_CPU_CAPABILITY, e.g. `default`: what a CPU without AVX2
runs). For comparison the same images are encrypted in memory as ric/3 (the regenerating paper format) and decrypted
under the same kernels. Prints one row per format: files, size median / p90 (bytes), decrypted here, decrypted under
each capability, identical to here (bytes), and recovery (PSNR median, or bit-exact for sealed); then what each
format costs in time: the same images encrypted and decrypted in memory in this process (ms per image, one run
after a one-image warm-up; both paper formats draw the same nonces, so Φ runs the same steps; ric/3's decryption
re-runs Φ, ric/4's runs D and its ties).

  ric bench portable --data ../shared/data/cifar10.npz --n 200 --out portable-cifar
  ric bench portable --data ../shared/data/celeba_faces_64.npz --n 100 --model celeba64 --out portable-celeba
"""
from __future__ import annotations

import hashlib
import itertools
import os
import subprocess
import sys

import numpy as np
from PIL import Image

from ...schemes.registry import scheme_spec
from .common import load, log, machine_line, now, table
from .photo_sizes import psnr


def _write_plain(a) -> list[str]:
    from ...datasets.arrays import load_npz
    x = load_npz(a.data, "test").x
    idx = np.linspace(0, len(x) - 1, a.n).astype(int)
    os.makedirs(os.path.join(a.out, "plain"), exist_ok=True)
    paths = []
    for i in idx:
        p = os.path.join(a.out, "plain", f"{i:05d}.png")
        if not os.path.exists(p):
            Image.fromarray(x[i]).save(p)
        paths.append(p)
    return paths


def _cli(args: list[str], capability: str | None = None) -> int:
    env = {k: v for k, v in os.environ.items() if k != "ATEN_CPU_CAPABILITY"}
    if capability:
        env["ATEN_CPU_CAPABILITY"] = capability
    return subprocess.run([sys.executable, "-m", "ric.cli", *args], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode


def _pixels_sha(path: str) -> str:
    """sha256 of an image file's decoded RGB pixels."""
    return hashlib.sha256(np.ascontiguousarray(np.asarray(Image.open(path).convert("RGB"))).tobytes()).hexdigest()


def _digests(folder: str) -> dict:
    """{stem: _pixels_sha} of the images in a folder."""
    names = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    return {os.path.splitext(n)[0]: _pixels_sha(os.path.join(folder, n)) for n in names}


def _ric3(a, key_path: str, plain: list[str], folder: str) -> None:
    """The same images as ric/3 (the paper format that regenerates n_adv), in memory, written to `folder`."""
    from ...hub import load_classifier, load_ric_model
    from ...io.images import load_image
    from ...keys import Key
    from ...schemes.paper.scheme import PaperScheme
    if os.path.isdir(folder) and len(os.listdir(folder)) == len(plain):
        return
    os.makedirs(folder, exist_ok=True)
    counter = itertools.count()
    scheme = PaperScheme(load_ric_model(a.model), load_classifier(a.classifier or a.model), format="ric/3",
                         nonce_source=lambda: hashlib.sha256(b"bench portable %d" % next(counter)).digest()[:16])
    for p, o in zip(plain, scheme.encrypt([load_image(p) for p in plain], Key.load(key_path))):
        if o.error is None:
            with open(os.path.join(folder, os.path.basename(p)), "wb") as f:
                f.write(o.data)


def _row(a, name: str, folder: str, plain: list[str], key: str, exact: bool) -> list:
    sizes = sorted(os.path.getsize(os.path.join(folder, n)) for n in os.listdir(folder))
    here_dir = os.path.join(a.out, "dec", name, "here")
    models = [] if exact else ["--model", a.model, "--classifier", a.classifier or a.model]
    _cli(["decrypt", "--key", key, "--out", here_dir, "--force", "-q", "--cpu", *models, folder])
    here = _digests(here_dir)
    cells = [name, len(sizes), int(np.median(sizes)), sizes[int(0.9 * (len(sizes) - 1))], len(here)]
    for cap in a.capabilities:
        d = os.path.join(a.out, "dec", name, cap)
        _cli(["decrypt", "--key", key, "--out", d, "--force", "-q", "--cpu", *models, folder], cap)
        there = _digests(d)
        same = sum(1 for s, h in there.items() if here.get(s) == h)
        cells += [len(there), same]
    originals = {os.path.splitext(os.path.basename(p))[0]: p for p in plain}
    if exact:
        ok = sum(1 for s, h in here.items() if _pixels_sha(originals[s]) == h)
        cells.append(f"bit-exact {ok}/{len(sizes)}")
    else:
        vals = [psnr(np.asarray(Image.open(os.path.join(here_dir, f)).convert("RGB")),
                     np.asarray(Image.open(originals[os.path.splitext(f)[0]]).convert("RGB")))
                for f in sorted(os.listdir(here_dir) if os.path.isdir(here_dir) else [])]
        cells.append(f"PSNR median {np.median(vals):.2f} dB" if vals else "-")
    return cells


def _timings(a, key_path: str, plain: list[str]) -> list[list]:
    """[format, encrypt ms/img, decrypt ms/img] in memory for ric/4, ric/3 and sealed/2 on the same images."""
    from ...hub import load_classifier, load_ric_model
    from ...io.images import load_image
    from ...keys import Key
    from ...schemes.container import read
    from ...schemes.paper.scheme import PaperScheme
    from ...schemes.sealed.scheme import SealedScheme
    key, images = Key.load(key_path), [load_image(p) for p in plain]
    model, clf = load_ric_model(a.model), load_classifier(a.classifier or a.model)

    def nonces():        # the same nonces for both paper formats: Φ runs the same steps in each
        counter = itertools.count()
        return lambda: hashlib.sha256(b"bench portable timing %d" % next(counter)).digest()[:16]
    rows = []
    for name, scheme in (("ric/4", PaperScheme(model, clf, nonce_source=nonces())),
                         ("ric/3", PaperScheme(model, clf, format="ric/3", nonce_source=nonces())),
                         ("sealed/2", SealedScheme(clf, lossy_fallback=True))):
        scheme.encrypt(images[:1], key)                      # warm-up
        t = now()
        outs = [o for o in scheme.encrypt(images, key) if o.error is None]
        t_enc = now() - t
        t = now()
        prepared = [scheme.prepare(key, read(o.data)) for o in outs]
        done = sum(o.error is None for _, o in scheme.decrypt(key, prepared))
        t_dec = now() - t
        rows.append([name, f"{1000 * t_enc / len(images):.1f}", f"{1000 * t_dec / max(1, len(outs)):.1f}",
                     f"{done}/{len(images)}"])
    return rows


def run(a) -> int:
    import torch
    torch.set_num_threads(a.threads)
    load0 = load()
    os.makedirs(a.out, exist_ok=True)
    key = os.path.join(a.out, "bench.key")
    if not os.path.exists(key):
        _cli(["keygen", key])
    plain = _write_plain(a)
    models = ["--classifier", a.classifier or a.model]
    folders = {}
    for scheme in ("paper", "sealed"):
        spec = scheme_spec(scheme)
        folder = os.path.join(a.out, f"enc_{scheme}")
        log(f"encrypting {len(plain)} images with the {scheme} scheme")
        extra = ["--model", a.model] if spec.needs_model else []
        lossy = [o.flag for o in spec.options if o.dest == "lossy_fallback"]   # store, rather than refuse, a misfit
        _cli(["encrypt", "--key", key, "--out", folder, "--resume", "-q", "--cpu", "--scheme", scheme, *models,
              *extra, *lossy, *plain])
        folders[spec.written_format] = folder
    log("encrypting the same images as ric/3 (in memory)")
    folders["ric/3"] = os.path.join(a.out, "enc_ric3")
    _ric3(a, key, plain, folders["ric/3"])
    rows = [_row(a, name, folders[name], plain, key, name.startswith("sealed")) for name in ("ric/4", "sealed/2",
                                                                                                "ric/3")]
    head = ["format", "files", "bytes median", "bytes p90", "decrypted here"]
    for cap in a.capabilities:
        head += [f"decrypted under {cap}", f"identical to here ({cap})"]
    print(f"### Portability: {os.path.basename(a.data)}, {len(plain)} test images\n")
    print(table(head, [r[:len(head)] for r in rows]))
    print()
    print(table(["format", "recovery here"], [[r[0], r[-1]] for r in rows]))
    log("timing each format in memory")
    print()
    print(table(["format (in memory)", "encrypt ms/img", "decrypt ms/img", "decrypted"], _timings(a, key, plain)))
    print(f"\n{machine_line(a.threads, load0, load())}")
    return 0
