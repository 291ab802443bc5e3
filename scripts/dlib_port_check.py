"""Compare ric's PyTorch port of dlib's face recognition ResNet with dlib's own descriptors.

Needs the `faces` extra and dlib's Python bindings (pip install dlib-bin; not a dependency of ric). Each face of
celeba_faces_160.npz is centre-cropped to 150x150 (a chip the size of the network's input: dlib's
compute_face_descriptor(chip) runs the network on it unchanged, no alignment) and described by both.

    python scripts/dlib_port_check.py --data ../shared/data/celeba_faces_160.npz [--split test] [--n 100]
        [--fixture tests/fixtures/dlib_face/descriptors.json --fixture-n 3]

Prints the largest absolute difference over all descriptors; --fixture writes the first --fixture-n faces'
dlib descriptors and the synthetic chip's (`synthetic_chip`, written beside it as synthetic_chip.png) as
known answers for the tests.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
from PIL import Image


def synthetic_chip() -> np.ndarray:
    """A deterministic 150x150 RGB uint8 chip (smooth colour ramps and rings), needing no data."""
    yy, xx = np.mgrid[:150, :150].astype(np.float64)
    r = np.hypot(yy - 70, xx - 80)
    img = np.stack([xx * 1.7, yy * 1.5, 127.5 + 127.5 * np.cos(r / 6.0)], axis=-1)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def centre_chips(x: np.ndarray, side: int = 150) -> np.ndarray:
    top, left = (x.shape[1] - side) // 2, (x.shape[2] - side) // 2
    return np.ascontiguousarray(x[:, top:top + side, left:left + side])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="test", choices=("train", "test"))
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--fixture", default="")
    ap.add_argument("--fixture-n", type=int, default=3)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    import dlib

    from ric.classifiers.dlib_face import dat_path, load_dlib_face_net
    path = dat_path()
    d = np.load(args.data)
    x = d[f"x_{args.split}"][:args.n]
    chips = np.concatenate([centre_chips(x), synthetic_chip()[None]])
    rec = dlib.face_recognition_model_v1(path)
    t0 = time.perf_counter()
    ref = np.stack([np.asarray(rec.compute_face_descriptor(c)) for c in chips])
    t1 = time.perf_counter()
    net = load_dlib_face_net(path)
    with torch.no_grad():
        ours = net(torch.from_numpy(chips).permute(0, 3, 1, 2).float() / 255).double().numpy()
    t2 = time.perf_counter()
    diff = np.abs(ours - ref)
    print(f"dlib {dlib.__version__} ({path})")
    print(f"{len(chips)} chips of 150x150: {len(chips) - 1} {args.split} faces of {args.data} (centre crop) "
          f"+ 1 synthetic")
    print(f"descriptor norms (dlib): min {np.linalg.norm(ref, axis=1).min():.4f}, "
          f"max {np.linalg.norm(ref, axis=1).max():.4f}")
    print(f"max abs difference: {diff.max():.3e} (mean {diff.mean():.3e}; per chip max: median "
          f"{np.median(diff.max(1)):.3e})")
    print(f"seconds: dlib {t1 - t0:.2f}, port {t2 - t1:.2f} (one thread)")
    if args.fixture:
        k = args.fixture_n
        out = {"data": args.data.rsplit("/", 1)[-1], "split": args.split, "crop": "centre 150 of 160",
               "faces": list(range(k)), "dlib_version": dlib.__version__,
               "face_descriptors": ref[:k].tolist(), "synthetic_descriptor": ref[-1].tolist()}
        with open(args.fixture, "w") as f:
            json.dump(out, f, indent=1)
        png = os.path.join(os.path.dirname(args.fixture), "synthetic_chip.png")
        Image.fromarray(chips[-1]).save(png)
        print(f"wrote {args.fixture} and {png}")
    return 0 if diff.max() <= 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
