"""SVHN cropped digits, format 2 (train_32x32.mat / test_32x32.mat): X is (32, 32, 3, N) uint8 and y is
(N, 1) with label 10 meaning the digit 0 (mapped to 0 here). Reading .mat files needs scipy, an optional
dependency (`pip install "ric[svhn]"` or `pip install scipy`)."""
from __future__ import annotations

import os

import numpy as np

from ..datasets.arrays import ArrayDataset
from ..errors import DatasetError


class MissingDependencyError(ImportError, ValueError):
    """An optional dependency is not installed (a ValueError too, so the CLI prints one line)."""


def _loadmat(path):
    try:
        from scipy.io import loadmat
    except ImportError:
        raise MissingDependencyError("reading SVHN .mat files needs scipy: pip install scipy "
                                     "(or pip install 'ric[svhn]')") from None
    try:
        return loadmat(path)
    except Exception as e:  # scipy raises several types for a bad file
        raise DatasetError(f"{path}: not a readable MATLAB file ({type(e).__name__})") from None


def load_svhn(path: str, split: str = "train") -> ArrayDataset:
    f = os.path.join(path, f"{split}_32x32.mat")
    if not os.path.isfile(f):
        raise FileNotFoundError(f"SVHN file {split}_32x32.mat not found in {path} "
                                f"(`ric data download svhn --out DIR` fetches it)")
    m = _loadmat(f)
    if "X" not in m or "y" not in m:
        raise DatasetError(f"{f}: expected variables X and y (SVHN format 2)")
    x, y = np.asarray(m["X"]), np.asarray(m["y"]).reshape(-1).astype(np.int64)
    if x.ndim != 4 or x.shape[2] != 3 or x.shape[3] != len(y) or x.dtype != np.uint8:
        raise DatasetError(f"{f}: expected uint8 X of shape (32, 32, 3, N) with N = {len(y)} labels, got "
                         f"{x.dtype} {x.shape}")
    y[y == 10] = 0
    if y.size and (y.min() < 0 or y.max() > 9):
        raise DatasetError(f"{f}: SVHN labels must be 1..10")
    return ArrayDataset(np.ascontiguousarray(x.transpose(3, 0, 1, 2)), y, [str(i) for i in range(10)])
