"""Dataset specs -> `ric.datasets.arrays.ArrayDataset` (uint8 NHWC RGB, int64 labels, class names), no torchvision.

A spec is `KIND:PATH[?opt=value&...]` or a plain path:

    path/to/file.npz            the .npz layout of ../shared/data            (`npz:` optional)
    cifar10:DIR                 the official python batches (cifar-10-batches-py, or its parent)
    mnist:DIR                   the official idx files, gzipped or not
    svhn:DIR                    SVHN format 2 (train_32x32.mat / test_32x32.mat; needs scipy)
    folder:DIR?size=160x160     image folders DIR/<class>/*.jpg|png (ImageNet / VGGFace2 layout)

A directory without a KIND is recognised by its files. Options: `size=HxW` resizes every image (folder
only; needed when the images differ in size), `test_fraction=0.2` for a folder without train/ and test/.
Greyscale data (MNIST) is replicated to three channels, as everywhere in RIC.
"""
from __future__ import annotations

import os
from urllib.parse import parse_qsl

from ..datasets.arrays import ArrayDataset, load_npz
from ..errors import DatasetError
from .fetch import DOWNLOADS, download

KINDS = ("npz", "cifar10", "mnist", "svhn", "folder")
SPEC_HELP = ("a dataset spec is FILE.npz, cifar10:DIR, mnist:DIR, svhn:DIR or folder:DIR[?size=HxW] "
             "(DIR may start with ~)")

__all__ = ["ArrayDataset", "DOWNLOADS", "KINDS", "download", "load_dataset", "parse_spec"]


def parse_spec(spec: str) -> tuple[str, str, dict]:
    """(kind, expanded path, options) of a dataset spec; ValueError with the accepted forms otherwise."""
    if not isinstance(spec, str) or not spec.strip():
        raise DatasetError(f"empty dataset spec; {SPEC_HELP}")
    kind, path = None, spec
    head, sep, rest = spec.partition(":")
    if sep and head.lower() in KINDS:
        kind, path = head.lower(), rest
    elif sep and len(head) > 1 and os.sep not in head and not os.path.exists(spec):
        raise DatasetError(f"unknown dataset kind {head!r} in {spec!r}; {SPEC_HELP}")
    path, _, query = path.partition("?")
    try:
        opts = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
    except ValueError:
        raise DatasetError(f"bad dataset options {query!r} in {spec!r}; expected e.g. ?size=160x160") from None
    unknown = set(opts) - {"size", "test_fraction"}
    if unknown:
        raise DatasetError(f"unknown dataset option(s) {', '.join(sorted(unknown))} in {spec!r}; "
                         f"known: size, test_fraction")
    path = os.path.expanduser(path)
    if not path:
        raise DatasetError(f"no path in dataset spec {spec!r}; {SPEC_HELP}")
    if not os.path.exists(path):
        raise FileNotFoundError(f"dataset not found: {path} (from spec {spec!r})")
    if kind is None:
        kind = _detect(path)
    return kind, path, opts


def _detect(path: str) -> str:
    if os.path.isfile(path):
        if path.endswith(".npz"):
            return "npz"
        raise DatasetError(f"{path}: a dataset file must be an .npz; for other formats pass a folder, {SPEC_HELP}")
    names = set(os.listdir(path))
    if "cifar-10-batches-py" in names or "data_batch_1" in names:
        return "cifar10"
    if any(n.startswith(("train-images", "t10k-images")) for n in names):
        return "mnist"
    if names & {"train_32x32.mat", "test_32x32.mat"}:
        return "svhn"
    return "folder"


def _parse_size(s: str | None):
    if s is None:
        return None
    try:
        h, w = (int(v) for v in s.lower().split("x"))
        if h < 1 or w < 1:
            raise DatasetError
        return h, w
    except ValueError:
        raise DatasetError(f"size must be HxW, e.g. 160x160, got {s!r}") from None


def load_dataset(spec: str, split: str = "train") -> ArrayDataset:
    """Load one split ("train" or "test") of the dataset a spec names."""
    if split not in ("train", "test"):
        raise DatasetError(f"split must be 'train' or 'test', got {split!r}")
    kind, path, opts = parse_spec(spec)
    size = _parse_size(opts.get("size"))
    if size is not None and kind != "folder":
        raise DatasetError(f"size= applies to folder datasets only (got kind {kind})")
    if kind == "npz":
        return load_npz(path, split)
    if kind == "cifar10":
        from .cifar import load_cifar10
        return load_cifar10(path, split)
    if kind == "mnist":
        from .mnist import load_mnist
        return load_mnist(path, split)
    if kind == "svhn":
        from .svhn import load_svhn
        return load_svhn(path, split)
    from .folder import load_folder
    try:
        frac = float(opts.get("test_fraction", 0.2))
    except ValueError:
        raise DatasetError(f"test_fraction must be a number, got {opts['test_fraction']!r}") from None
    return load_folder(path, split, size=size, test_fraction=frac)
