"""Where the game's images come from beyond one data set's splits: the attacker's own images from another data set
(`attacker_images`), and the victim's pairs drawn from both splits (`victim_pool`).

At 160×160 the test split of celeba_faces_160 holds 100 faces of 20 identities, 40 disjoint same-label pairs at
most; both splits hold 400 faces, about 200 pairs. The attacker, who may use any faces of its own, takes
celeba_faces_64's faces upsampled to the victim's size, leaving out the identities the victim's data set also
names, so that no face of the victim's pool is among its own."""
from __future__ import annotations

import numpy as np
from PIL import Image

from ....datasets.arrays import ArrayDataset
from ..common import load_split

VICTIM_SPLITS = ("test", "all")


def attacker_images(path: str, size: tuple[int, int], exclude: set[str] = frozenset()) -> ArrayDataset:
    """Both splits of the .npz at `path`, without the classes named in `exclude`, resized (PIL bicubic) to `size`
    (H, W) where they differ."""
    both = _both_splits(path)
    keep = np.array([both.classes[int(c)] not in exclude for c in both.y], dtype=bool)
    x, y = both.x[keep], both.y[keep]
    if x.shape[1:3] != tuple(size):
        x = np.stack([np.asarray(Image.fromarray(im).resize((size[1], size[0]), Image.Resampling.BICUBIC))
                      for im in x])
    return ArrayDataset(x, y, both.classes)


def _both_splits(path: str) -> ArrayDataset:
    parts = [load_split(path, s) for s in ("train", "test")]
    return ArrayDataset(np.concatenate([p.x for p in parts]), np.concatenate([p.y for p in parts]), parts[0].classes)


def victim_pool(path: str, split: str) -> ArrayDataset:
    """The images the victim's pairs are drawn from: the test split, or ("all") train and test together."""
    if split not in VICTIM_SPLITS:
        raise ValueError(f"victim split must be one of {VICTIM_SPLITS}, not {split!r}")
    return load_split(path, "test") if split == "test" else _both_splits(path)
