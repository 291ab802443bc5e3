"""Image folders in the ImageNet / VGGFace2 layout: ROOT/<class>/<image>.

Splits: ROOT/train/<class>/ and ROOT/test/<class>/ when both exist (classes are the sorted train folder
names); otherwise ROOT/<class>/ is split deterministically: within each class, files sorted by name, every
k-th file (k = round(1 / test_fraction), default 5) goes to test. Images are decoded with Pillow and
converted to RGB; `size=(H, W)` resizes each one (bicubic) and is required when their sizes differ.
The whole split is held in memory as uint8 (a 160x160 face is 75 KB), so very large folders need a subset.
"""
from __future__ import annotations

import os

import numpy as np

from ..datasets.arrays import ArrayDataset
from ..errors import DatasetError

EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".ppm")


def _classes(root: str) -> list[str]:
    return sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)) and not d.startswith("."))


def _images(d: str) -> list[str]:
    return sorted(f for f in os.listdir(d) if f.lower().endswith(EXTENSIONS) and not f.startswith("."))


def _files(root: str, split: str, test_fraction: float):
    tr, te = os.path.join(root, "train"), os.path.join(root, "test")
    if os.path.isdir(tr) and os.path.isdir(te):
        classes = _classes(tr)
        base = tr if split == "train" else te
        extra = sorted(set(_classes(te)) - set(classes))
        if extra:
            raise DatasetError(f"{te} has classes missing from {tr}: {', '.join(extra[:5])}")
        out = [(os.path.join(base, c, f), i) for i, c in enumerate(classes)
               if os.path.isdir(os.path.join(base, c)) for f in _images(os.path.join(base, c))]
        return out, classes
    if not 0 < test_fraction < 1:
        raise DatasetError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    k = max(2, round(1 / test_fraction))
    classes = _classes(root)
    out = []
    for i, c in enumerate(classes):
        for j, f in enumerate(_images(os.path.join(root, c))):
            if ((j + 1) % k == 0) == (split == "test"):
                out.append((os.path.join(root, c, f), i))
    return out, classes


def load_folder(root: str, split: str = "train", size=None, test_fraction: float = 0.2) -> ArrayDataset:
    from PIL import Image
    if not os.path.isdir(root):
        raise DatasetError(f"{root}: an image-folder dataset must be a directory of class folders")
    files, classes = _files(root, split, test_fraction)
    if not classes:
        raise DatasetError(f"{root}: no class folders (expected ROOT/<class>/*.jpg|png or ROOT/train and ROOT/test)")
    if not files:
        raise DatasetError(f"{root}: no {split} images with extensions {', '.join(EXTENSIONS)}")
    xs, first = [], None
    for path, _ in files:
        try:
            with Image.open(path) as im:
                im = im.convert("RGB")
                if size is not None:
                    im = im.resize((size[1], size[0]), Image.Resampling.BICUBIC)
                a = np.asarray(im, dtype=np.uint8)
        except OSError as e:
            raise DatasetError(f"{path}: unreadable image ({e})") from None
        if first is None:
            first = (path, a.shape)
        elif a.shape != first[1]:
            raise DatasetError(f"images differ in size ({first[0]}: {first[1][1]}x{first[1][0]}, {path}: "
                             f"{a.shape[1]}x{a.shape[0]}); add ?size=HxW to the spec, e.g. folder:{root}?size=160x160")
        xs.append(a)
    y = np.array([c for _, c in files], dtype=np.int64)
    return ArrayDataset(np.stack(xs), y, classes)
