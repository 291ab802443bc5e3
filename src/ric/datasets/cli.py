"""`ric data download NAME --out DIR` and `ric data info SPEC`."""
from __future__ import annotations

import json

from ..errors import DatasetError


def run_data(args) -> int:
    from . import download, load_dataset
    if args.action == "download":
        if not args.out:
            raise DatasetError("ric data download needs --out DIR")
        spec = download(args.name, args.out)
        print(f"ready: use --data {spec}")
        return 0
    info = {}
    for split in ("train", "test"):
        ds = load_dataset(args.name, split)
        info[split] = {"images": len(ds), "shape": list(ds.x.shape[1:]),
                       "per_class": [int(c) for c in (ds.y[:, None] == range(len(ds.classes))).sum(0)]}
        info["classes"] = ds.classes
    print(json.dumps(info))
    return 0
