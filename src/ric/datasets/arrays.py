"""Datasets as uint8 NHWC arrays: the `.npz` layout of ../shared/data (x_train, y_train, x_test, y_test, classes).

Greyscale data (N, H, W) is replicated to three channels: every network in RIC takes RGB input, so a
greyscale PNG and its RGB conversion encrypt identically.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import DatasetError
from ..io.tensors import to_float


@dataclass
class ArrayDataset:
    x: np.ndarray          # uint8 (N, H, W, 3)
    y: np.ndarray          # int64 (N,)
    classes: list[str]

    def __len__(self):
        return len(self.x)

    def tensors(self, idx=None, device="cpu"):
        """Images as float (n, 3, H, W) in [0, 1] and labels as int64."""
        x = self.x if idx is None else self.x[idx]
        y = self.y if idx is None else self.y[idx]
        xt = to_float(x, device)
        return xt, torch.from_numpy(np.asarray(y, dtype=np.int64)).to(device)


def _to_rgb(x: np.ndarray) -> np.ndarray:
    if x.ndim == 3:
        return np.repeat(x[..., None], 3, axis=-1)
    if x.ndim == 4 and x.shape[-1] == 1:
        return np.repeat(x, 3, axis=-1)
    if x.ndim == 4 and x.shape[-1] == 3:
        return x
    raise DatasetError(f"expected images shaped (N,H,W) or (N,H,W,1|3), got {x.shape}")


def load_npz(path: str | os.PathLike, split: str = "train") -> ArrayDataset:
    if split not in ("train", "test"):
        raise DatasetError("split must be 'train' or 'test'")
    if not os.path.exists(path):
        raise FileNotFoundError(f"dataset file not found: {path}")
    with np.load(path, allow_pickle=False) as d:
        x = _to_rgb(d[f"x_{split}"])
        y = d[f"y_{split}"].astype(np.int64)
        classes = [str(c) for c in d["classes"]] if "classes" in d.files else [str(i) for i in range(int(y.max()) + 1)]
    if x.dtype != np.uint8:
        raise DatasetError(f"{path}: expected uint8 images, got {x.dtype}")
    return ArrayDataset(x, y, classes)


def shared_data_dir() -> str | None:
    """../shared/data next to the project checkout, or $RIC_DATA; None when absent."""
    env = os.environ.get("RIC_DATA")
    if env:
        return env if os.path.isdir(env) else None
    here = os.path.dirname(os.path.abspath(__file__))
    for up in (3, 4):
        cand = os.path.abspath(os.path.join(here, *[".."] * up, "shared", "data"))
        if os.path.isdir(cand):
            return cand
    return None
