"""`ric bench cloud`: does a stock ImageNet classifier, behind a cloud's own preprocessing, label the ciphertexts
like the plaintexts?

Plaintexts (test images of `--data`, resized so the shorter side is `--size`, bicubic; and/or the photos in
`--photos`) are encrypted for `--classifier` (efficientnet-lite0 by default) by each scheme, in memory and one at a
time, as `ric encrypt` does; every ciphertext is written under `--out` with a line in `log.jsonl` (label, attempts,
seconds), so a rerun goes on where one stopped. Then the raw model (`Loaded.module.model`, without RIC's pipeline
code) labels plaintexts and ciphertexts behind each preprocessing in RESIZERS, written here with PIL and torch as a
cloud would write them. Prints, per set and scheme: ciphertexts, first-try share, seconds per image, and for each
preprocessing the share of ciphertexts labelled like their plaintext under that same preprocessing, and the share
labelled ŷ (the label encryption aimed at: the plaintext's under the classifier's own pipeline) under every one —
a plaintext may get another label under another preprocessing, which no single ciphertext can follow.

  ric bench cloud --data ../shared/data/cifar10.npz --n 200 --out cloud-cifar
  ric bench cloud --data ../shared/data/celeba_faces_64.npz --n 100 --out cloud-celeba
  ric bench cloud --photos src/ric/samples/photos --out cloud-photos
"""
from __future__ import annotations

import json
import os
import time

import numpy as np
from PIL import Image

from .common import load, log, machine_line, table


def _pil(img: Image.Image, shorter: int, crop: int, how) -> np.ndarray:
    w, h = img.size
    s = shorter / min(w, h)
    img = img.resize((max(shorter, round(w * s)), max(shorter, round(h * s))), how)
    w, h = img.size
    left, top = (w - crop) // 2, (h - crop) // 2
    return np.asarray(img.crop((left, top, left + crop, top + crop)), np.float32)


def _torch(img: Image.Image, shorter: int, crop: int, mode: str, antialias: bool) -> np.ndarray:
    import torch
    import torch.nn.functional as F
    x = torch.from_numpy(np.asarray(img, np.float32)).permute(2, 0, 1)[None]
    h, w = x.shape[-2:]
    s = shorter / min(h, w)
    size = (max(shorter, round(h * s)), max(shorter, round(w * s)))
    x = F.interpolate(x, size=size, mode=mode, antialias=antialias, align_corners=False).clamp(0, 255)
    top, left = (size[0] - crop) // 2, (size[1] - crop) // 2
    return x[0, :, top:top + crop, left:left + crop].permute(1, 2, 0).numpy()


KEY = bytes(range(32))   # the benchmark's fixed key (its ciphertexts are throwaway)

# name -> how a cloud turns an RGB image into the 224×224 model input (before the pipeline's normalisation)
RESIZERS = {
    "PIL bilinear 224": lambda im: _pil(im, 224, 224, Image.BILINEAR),
    "PIL bicubic 224": lambda im: _pil(im, 224, 224, Image.BICUBIC),
    "PIL bilinear 256+crop": lambda im: _pil(im, 256, 224, Image.BILINEAR),
    "torch bilinear aa": lambda im: _torch(im, 224, 224, "bilinear", True),
    "torch bilinear": lambda im: _torch(im, 224, 224, "bilinear", False),
}


def _plaintexts(a) -> list[tuple[str, str]]:
    """[(set name, path)] of the plaintext PNGs / photos, written under --out for a dataset."""
    out = []
    if a.data:
        from ...datasets.arrays import load_npz
        tag = os.path.splitext(os.path.basename(a.data))[0]
        x = load_npz(a.data, "test").x
        folder = os.path.join(a.out, f"plain-{tag}")
        os.makedirs(folder, exist_ok=True)
        for i in np.linspace(0, len(x) - 1, a.n).astype(int):
            p = os.path.join(folder, f"{i:05d}.png")
            if not os.path.exists(p):
                im = Image.fromarray(x[i]).convert("RGB")
                s = a.size / min(im.size)
                im.resize((round(im.width * s), round(im.height * s)), Image.BICUBIC).save(p)
            out.append((f"{tag}@{a.size}", p))
    if a.photos:
        out += [("photos", os.path.join(a.photos, f)) for f in sorted(os.listdir(a.photos))
                if f.lower().endswith((".jpg", ".jpeg", ".png"))]
    return out


def _encrypt_all(a, scheme_name: str, items) -> list[dict]:
    """Encrypt what is not yet in the log; every log record (one per plaintext)."""
    from ...io.images import load_image
    from ...keys import Key
    from ...schemes import make_scheme
    folder = os.path.join(a.out, f"enc-{scheme_name}")
    os.makedirs(folder, exist_ok=True)
    logp = os.path.join(folder, "log.jsonl")
    done = {}
    if os.path.exists(logp):
        done = {r["src"]: r for r in map(json.loads, open(logp)) if r.get("src")}
    todo = [] if a.report_only else [(s, p) for s, p in items if p not in done]
    if todo:
        from ...schemes.registry import scheme_spec
        scheme = make_scheme(scheme_name, classifier=a.classifier,
                             **({"model": a.model} if scheme_spec(scheme_name).needs_model else {}))
        key = Key(KEY)
        with open(logp, "a") as f:
            for k, (_, p) in enumerate(todo):
                t = time.perf_counter()
                o = scheme.encrypt([load_image(p)], key)[0]
                rec = {"src": p, "seconds": time.perf_counter() - t, "error": None if o.error is None else str(o.error)}
                if o.error is None:
                    out = os.path.join(folder, os.path.basename(os.path.dirname(p)) + "-" +
                                       os.path.splitext(os.path.basename(p))[0] + ".png")
                    with open(out, "wb") as g:
                        g.write(o.data)
                    rec.update(out=out, label=o.label, attempts=o.info.get("attempts"))
                f.write(json.dumps(rec) + "\n")
                f.flush()
                done[p] = rec
                log(f"cloud {scheme_name}: {k + 1}/{len(todo)} {os.path.basename(p)} "
                    f"{'ok' if o.error is None else 'failed'} in {rec['seconds']:.1f} s")
    return [done[p] for _, p in items if p in done]


def _recovery(a, scheme_name: str, recs: list[dict]) -> dict[str, float]:
    """Decrypt the ciphertexts with `ric decrypt` (a fresh process, --resume); PSNR (99 when identical) per src."""
    import subprocess
    import sys

    from .photo_sizes import psnr
    folder = os.path.join(a.out, f"dec-{scheme_name}")
    keyfile = os.path.join(a.out, "bench.key")
    from ...keys import Key
    if not os.path.exists(keyfile):
        Key(KEY).save(keyfile)
    outs = [r["out"] for r in recs if r.get("out")]
    if outs:
        subprocess.run([sys.executable, "-m", "ric.cli", "decrypt", "--key", keyfile, "--out", folder, "--resume",
                        "-q", "--threads", str(a.threads), *outs], check=False, stdout=subprocess.DEVNULL)
    got = {}
    for r in recs:
        if r.get("out"):
            stem = os.path.splitext(os.path.basename(r["out"]))[0]
            found = [f for f in os.listdir(folder) if os.path.splitext(f)[0] == stem] if os.path.isdir(folder) else []
            if found:
                x = np.asarray(Image.open(r["src"]).convert("RGB"))
                y = np.asarray(Image.open(os.path.join(folder, found[0])).convert("RGB"))
                got[r["src"]] = 99.0 if np.array_equal(x, y) else (psnr(x, y) if x.shape == y.shape else 0.0)
    return got


def stock_model(spec: str):
    """The raw model of a classifier behind a pipeline, fed 0..255 pixels (N, 3, 224, 224) and normalised with the
    pipeline's own mean and std: the model as a cloud runs it after its own resize and crop."""
    from ...hub import load_classifier
    module = load_classifier(spec).module.eval()
    model, pipe = module.model, module.pipeline

    def net(x):
        return model((x / 255 - pipe._mean) / pipe._std)
    return net


def _labels(net, img: Image.Image) -> dict[str, int]:
    """Labels of `img` behind every preprocessing of RESIZERS (`net`: stock_model's)."""
    import torch
    xs = np.stack([f(img) for f in RESIZERS.values()])
    with torch.inference_mode():
        y = net(torch.from_numpy(xs).permute(0, 3, 1, 2)).argmax(1).tolist()
    return dict(zip(RESIZERS, y))


def run(a) -> int:
    import torch

    torch.set_num_threads(a.threads)
    l0 = load()
    items = _plaintexts(a)
    model = stock_model(a.classifier)
    plain = {p: _labels(model, Image.open(p).convert("RGB")) for _, p in items}
    rows = []
    for name in a.schemes:
        recs = _encrypt_all(a, name, items)
        rec = _recovery(a, name, recs)
        for tag in dict.fromkeys(s for s, _ in items):
            srcs = {p for s, p in items if s == tag}
            rs = [r for r in recs if r["src"] in srcs]
            ok = [r for r in rs if r.get("out")]
            agree, every = {k: 0 for k in RESIZERS}, 0
            for r in ok:
                got = _labels(model, Image.open(r["out"]).convert("RGB"))
                for k in RESIZERS:
                    agree[k] += got[k] == plain[r["src"]][k]
                every += all(v == r["label"] for v in got.values())
            first = sum(r.get("attempts") == 1 for r in ok)
            ps = [rec[r["src"]] for r in ok if r["src"] in rec]
            exact = sum(p >= 99 for p in ps)
            rows.append([tag, name, f"{len(ok)}/{len(rs)}", f"{first}/{len(ok)}",
                         f"{np.median([r['seconds'] for r in ok]):.1f}" if ok else "–",
                         f"{exact}/{len(ps)} exact, median {np.median(ps):.2f} dB" if ps else "–",
                         *[f"{agree[k]}/{len(ok)}" for k in RESIZERS], f"{every}/{len(ok)}"])
    print(machine_line(a.threads, l0, load()))
    print()
    print(table(["set", "scheme", "encrypted", "first try", "s / image (median)", "recovered", *RESIZERS,
                 "ŷ under every one"], rows))
    return 0

