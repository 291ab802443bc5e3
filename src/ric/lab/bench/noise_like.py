"""`ric bench noise-like`: do two ciphertexts of the same label share a pattern, at each image size?

For each configuration SIZE:CLASSIFIER (e.g. 512:cifar10), `--n` test images are resized to SIZE×SIZE (bicubic;
none at their own size) and encrypted in memory under two keys by each scheme, as `ric encrypt` would. Over every
pair of ciphertexts with the same label (the same image under the two keys included, identical ones excluded) it
computes the correlation of their block means: the image cut into a 32×32 grid of blocks (side SIZE/32; 16 px at
512), each block's mean per channel, pooled over the channels. A shared pattern (a class start, a colour cast the
attack found for the label) shows as a correlation near 1; keyed noise alone gives about 0 (its largest value over
as many pairs is printed beside, from uniform 8-bit noise). Also printed: the low-frequency power of the
ciphertexts — the variance of their block means — as a multiple of that of uniform noise, and seconds per image.
Writes, for each configuration and scheme, the first two same-label ciphertexts and their block means magnified
(`--out`).

  ric bench noise-like --configs 32:cifar10,64:celeba64,160:celeba160,512:cifar10 --n 6 --out noise-like
"""
from __future__ import annotations

import io
import itertools
import os

import numpy as np
from PIL import Image

from .common import load, log, machine_line, now, table

GRID = 32   # blocks per side


def block_means(a: np.ndarray) -> np.ndarray:
    """Means of the GRID×GRID blocks of an (H, W, 3) image (edge pixels beyond a whole block dropped)."""
    b = max(1, a.shape[0] // GRID)
    h, w = a.shape[0] // b * b, a.shape[1] // b * b
    return a[:h, :w].astype(np.float64).reshape(h // b, b, w // b, b, a.shape[2]).mean((1, 3))


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(block_means(a).ravel(), block_means(b).ravel())[0, 1])


def noise_baseline(size: int, pairs: int, seed: int = 0) -> tuple[float, float]:
    """(largest correlation over `pairs` pairs, block-mean variance) of uniform 8-bit noise images."""
    rng = np.random.default_rng(seed)
    cs, vs = [], []
    for _ in range(max(1, pairs)):
        a, b = (rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(2))
        cs.append(correlation(a, b))
        vs.append(block_means(a).var())
    return max(cs), float(np.mean(vs))


def _images(data: str, n: int, size: int) -> list[np.ndarray]:
    from ...datasets.arrays import load_npz
    x = load_npz(data, "test").x
    idx = np.linspace(0, len(x) - 1, n).astype(int)
    out = []
    for i in idx:
        im = Image.fromarray(x[i]).convert("RGB")
        if im.size != (size, size):
            im = im.resize((size, size), Image.BICUBIC)
        out.append(np.asarray(im))
    return out


def _encrypt(scheme, images, keys) -> tuple[list, float]:
    """[(image index, key index, label, pixels)] of every ciphertext, and seconds per image."""
    out, t = [], now()
    for k, key in enumerate(keys):
        for i, o in enumerate(scheme.encrypt(images, key)):
            if o.error is None:
                out.append((i, k, o.label, np.asarray(Image.open(io.BytesIO(o.data)).convert("RGB"))))
    return out, (now() - t) / (len(images) * len(keys))


def _show(cts, path: str) -> None:
    """Two ciphertexts (at most 256 px) and their block means (magnified) side by side."""
    tiles = []
    for c in cts:
        im = Image.fromarray(c)
        tiles.append(im.resize((256, 256), Image.NEAREST) if im.width <= 256 else im.resize((256, 256), Image.BOX))
    for c in cts:
        m = block_means(c)
        m = ((m - m.min()) / max(1e-9, np.ptp(m)) * 255).astype(np.uint8)
        tiles.append(Image.fromarray(m).resize((256, 256), Image.NEAREST))
    sheet = Image.new("RGB", (256 * len(tiles) + 8 * (len(tiles) - 1), 256), "white")
    for j, t in enumerate(tiles):
        sheet.paste(t, (j * 264, 0))
    sheet.save(path)


def measure(cfg: str, a, keys) -> list[list]:
    from ...schemes import make_scheme
    size_s, clf = cfg.split(":", 1)
    size = int(size_s)
    images = _images(DATA.get(clf, a.data), a.n, size)
    rows = []
    from ...hub import shipped_names
    from ...schemes.registry import scheme_spec
    model = clf if clf in shipped_names("ric") else a.model     # the paper scheme's RIC model
    for name in a.schemes:
        needs_model = scheme_spec(name).needs_model
        scheme = make_scheme(name, classifier=clf, seed=1, **({"model": model} if needs_model else {}))
        cts, per = _encrypt(scheme, images, keys)
        pairs = [(p, q) for p, q in itertools.combinations(cts, 2) if p[2] == q[2] and not (p[0] == q[0] and
                                                                                           p[1] == q[1])]
        cs = [correlation(p[3], q[3]) for p, q in pairs]
        base_max, base_var = noise_baseline(size, len(pairs))
        lf = np.mean([block_means(c[3]).var() for c in cts]) / base_var
        distinct = [(p, q) for p, q in pairs if p[0] != q[0]]
        if a.out and distinct:
            os.makedirs(a.out, exist_ok=True)
            _show([distinct[0][0][3], distinct[0][1][3]], os.path.join(a.out, f"{size}-{clf}-{name}.png"))
        who = f"{clf} (RIC model {model})" if needs_model else clf
        rows.append([f"{size}×{size}", who, name, len(cts), len(pairs), f"{max(1, size // GRID)} px",
                     f"{max(cs):.3f}" if cs else "–", f"{np.mean(cs):.3f}" if cs else "–", f"{base_max:.3f}",
                     f"{lf:.2f}", f"{per:.2f}"])
        log(f"noise-like: {rows[-1]}")
    return rows


DATA = {"celeba64": "../shared/data/celeba_faces_64.npz", "celeba160": "../shared/data/celeba_faces_160.npz"}


def run(a) -> int:
    import torch

    from ...keys import Key
    torch.set_num_threads(a.threads)
    keys = [Key(bytes([k]) * 32) for k in (1, 2)]
    l0 = load()
    rows = [r for cfg in a.configs for r in measure(cfg, a, keys)]
    print(machine_line(a.threads, l0, load()))
    print()
    print(table(["size", "classifier", "scheme", "ciphertexts", "same-label pairs", "block", "correlation max",
                 "correlation mean", "noise alone max", "low-freq power ×noise", "s / image"], rows))
    return 0
