"""Regenerate the real photos `ric demo` shows (src/ric/samples/photos/*.jpg) from scikit-image's sample data.

scikit-image is not a dependency of ric; install it for this script only (`pip install scikit-image`). Each photo
is resized with Pillow (Lanczos) so that its shorter side is 256 px and written as a baseline JPEG, quality 90,
without metadata. The licence of each one is stated in the docstring of its `skimage.data` function (the data
README.txt installed with scikit-image names none); ATTRIBUTION.md beside the photos repeats it.

    PYTHONPATH=src python scripts/make_demo_photos.py [--out src/ric/samples/photos]
"""
from __future__ import annotations

import argparse
import os

import numpy as np
from PIL import Image

# name -> the scikit-image function that returns it; all four are public domain or CC0 (see ATTRIBUTION.md)
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")
SHORTER = 256
QUALITY = 90
OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "ric", "samples", "photos"))


def downscale(a: np.ndarray, shorter: int = SHORTER) -> Image.Image:
    """An RGB Pillow image whose shorter side is `shorter` (Lanczos), from a uint8 (H, W, 3) array."""
    img = Image.fromarray(np.ascontiguousarray(a[..., :3]), "RGB")
    scale = shorter / min(img.size)
    size = (round(img.width * scale), round(img.height * scale))
    return img.resize(size, Image.Resampling.LANCZOS)


def main() -> int:
    import skimage
    import skimage.data
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=OUT)
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    total = 0
    for name in PHOTOS:
        path = os.path.join(args.out, f"{name}.jpg")
        img = downscale(getattr(skimage.data, name)())
        img.save(path, "JPEG", quality=QUALITY, optimize=True)
        total += os.path.getsize(path)
        print(f"{path}: {img.width}x{img.height}, {os.path.getsize(path)} bytes")
    print(f"{len(PHOTOS)} photos from scikit-image {skimage.__version__}, {total} bytes in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
