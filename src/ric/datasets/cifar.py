"""CIFAR-10 from the official python batches (cifar-10-batches-py: data_batch_1..5, test_batch,
batches.meta).

The batches are pickles. They are read with a restricted unpickler that resolves no global except the
three numpy names an array needs (ndarray, dtype, the array reconstructor) and a latin-1-only stand-in
for `_codecs.encode` (how Python 3 writes bytes at protocol 2); anything else in the file
(e.g. a reference to os.system) stops loading with an error, so a crafted file cannot run code.
"""
from __future__ import annotations

import os
import pickle

import numpy as np

from ..datasets.arrays import ArrayDataset
from ..errors import DatasetError

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
TRAIN_FILES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_FILES = ["test_batch"]


def _numpy_reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


def _latin1_encode(text, encoding="latin1"):
    """What protocol-2 pickles written by Python 3 use for bytes: _codecs.encode(str, "latin1") only."""
    if not isinstance(text, str) or encoding.replace("-", "").lower() != "latin1":
        raise pickle.UnpicklingError("refusing _codecs.encode with anything but (str, 'latin1')")
    return text.encode("latin1")


_ALLOWED = {
    ("_codecs", "encode"): lambda: _latin1_encode,
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        fn = _ALLOWED.get((module, name))
        if fn is None:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return fn()


def safe_unpickle(path: str):
    """Unpickle builtin containers, bytes/str and numpy arrays only; str keys (Python 2 files too)."""
    try:
        with open(path, "rb") as f:
            obj = _NumpyOnlyUnpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as e:
        raise DatasetError(f"{path}: not a CIFAR python batch ({e})") from None
    if not isinstance(obj, dict):
        raise DatasetError(f"{path}: not a CIFAR python batch (holds a {type(obj).__name__}, not a dict)")
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}


def _batch_dir(path: str) -> str:
    sub = os.path.join(path, "cifar-10-batches-py")
    return sub if os.path.isdir(sub) else path


def load_cifar10(path: str, split: str = "train") -> ArrayDataset:
    d = _batch_dir(path)
    xs, ys = [], []
    for name in TRAIN_FILES if split == "train" else TEST_FILES:
        f = os.path.join(d, name)
        if not os.path.isfile(f):
            raise FileNotFoundError(f"CIFAR-10 batch {name} not found in {d} (expected the extracted "
                                    f"cifar-10-python.tar.gz; `ric data download cifar10 --out DIR` fetches it)")
        b = safe_unpickle(f)
        try:
            x = np.asarray(b["data"])
            y = np.asarray(b["labels"], dtype=np.int64)
        except KeyError as e:
            raise DatasetError(f"{f}: CIFAR batch without {e.args[0]!r}") from None
        if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072 or len(x) != len(y):
            raise DatasetError(f"{f}: expected uint8 data of shape (N, 3072) and N labels, got {x.dtype} {x.shape} "
                             f"and {len(y)} labels")
        xs.append(x.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        ys.append(y)
    classes = CIFAR10_CLASSES
    meta = os.path.join(d, "batches.meta")
    if os.path.isfile(meta):
        names = safe_unpickle(meta).get("label_names")
        if names:
            classes = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    y = np.concatenate(ys)
    if y.min() < 0 or y.max() >= len(classes):
        raise DatasetError(f"{d}: labels outside 0..{len(classes) - 1}")
    return ArrayDataset(np.ascontiguousarray(np.concatenate(xs)), y, classes)
