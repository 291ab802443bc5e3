"""MNIST from the official idx files (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-...), gzipped
(.gz, as downloaded) or raw; the `train-images.idx3-ubyte` spelling is accepted too. Digits are replicated
to three channels."""
from __future__ import annotations

import gzip
import os

import numpy as np

from ..datasets.arrays import ArrayDataset, _to_rgb
from ..errors import DatasetError

_PREFIX = {"train": "train", "test": "t10k"}


def _find(path: str, stem: str, kind: str) -> str:
    for name in (f"{stem}-{kind}-ubyte", f"{stem}-{kind.replace('-idx', '.idx')}-ubyte"):
        for cand in (os.path.join(path, name), os.path.join(path, name + ".gz")):
            if os.path.isfile(cand):
                return cand
    raise FileNotFoundError(f"MNIST file {stem}-{kind}-ubyte[.gz] not found in {path} "
                            f"(`ric data download mnist --out DIR` fetches it)")


def read_idx(path: str) -> np.ndarray:
    """An unsigned-byte idx array (magic 0x0000 0x08 ndim, big-endian sizes, then the bytes)."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise DatasetError(f"{path}: unreadable idx file ({e})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08 or not 1 <= raw[3] <= 4:
        raise DatasetError(f"{path}: not an unsigned-byte idx file (bad magic number)")
    nd = raw[3]
    dims = tuple(int(v) for v in np.frombuffer(raw, ">u4", nd, 4))
    body = raw[4 + 4 * nd:]
    if len(body) != int(np.prod(dims)):
        raise DatasetError(f"{path}: idx header says {dims} = {int(np.prod(dims))} bytes, file holds {len(body)}")
    return np.frombuffer(body, np.uint8).reshape(dims).copy()


def load_mnist(path: str, split: str = "train") -> ArrayDataset:
    stem = _PREFIX[split]
    x = read_idx(_find(path, stem, "images-idx3"))
    y = read_idx(_find(path, stem, "labels-idx1")).astype(np.int64)
    if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
        raise DatasetError(f"{path}: MNIST {split} images {x.shape} and labels {y.shape} do not match")
    if y.size and y.max() > 9:
        raise DatasetError(f"{path}: MNIST labels must be 0..9, found {int(y.max())}")
    return ArrayDataset(_to_rgb(x), y, [str(i) for i in range(10)])
