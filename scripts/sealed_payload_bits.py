"""Bits per subpixel of real photos as JPEG files (q90/q95) and as the sealed pixel payload, with and without
Gaussian noise sigma=8, against the sealed capacity (payload_room) at shorter side 256.

Needs the photos of scikit-image and scikit-learn (not dependencies of ric): `pip install scikit-image scikit-learn`,
or PYTHONPATH naming a folder they were installed into with `pip install --target`. Output: docs/results.md,
"Portability and formats"."""
import io

import numpy as np
import skimage.data
from PIL import Image
from sklearn.datasets import load_sample_images

from ric.schemes.sealed.original import pack_file
from ric.schemes.sealed.payload import CODEC_PNG, CODEC_WEBP, WEBP_METHODS, _encode
from ric.schemes.sealed.stream import payload_room


def photos():
    for name in ("astronaut", "chelsea", "coffee", "rocket"):
        yield name, getattr(skimage.data, name)()
    try:
        yield "motorcycle", skimage.data.stereo_motorcycle()[0]
    except Exception as e:  # noqa: BLE001
        print(f"# motorcycle: not available ({type(e).__name__}: {str(e)[:80]})")
    china, flower = load_sample_images().images
    yield "china", china
    yield "flower", flower


def at_256(a):
    im = Image.fromarray(a).convert("RGB")
    w, h = im.size
    s = 256 / min(w, h)
    return im.resize((round(w * s), round(h * s)), Image.LANCZOS)


def lossless(im):
    """The smallest lossless pixel payload the sealed scheme tries (PNG, WebP lossless at each effort)."""
    sizes = [len(_encode(im, CODEC_PNG))] + [len(_encode(im, CODEC_WEBP, method=m)) for m in WEBP_METHODS]
    return min(sizes)


def jpeg(im, q):
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=q)
    return len(pack_file(".jpg", buf.getvalue()))


rng = np.random.default_rng(0)
print(f"{'photo':<11} {'size':>8} {'noise':>5} {'cap b/sp':>8} | {'pixels b/sp':>11} {'fits':>4} | "
      f"{'JPEG q90':>8} {'fits':>4} | {'JPEG q95':>8} {'fits':>4}")
for name, a in photos():
    base = at_256(a)
    w, h = base.size
    room, sub = payload_room(h, w), h * w * 3
    for sigma in (0, 8):
        px = np.asarray(base, dtype=np.float64)
        if sigma:
            px = px + rng.normal(0, sigma, px.shape)
        im = Image.fromarray(np.clip(np.round(px), 0, 255).astype(np.uint8))
        cells = []
        for n in (lossless(im), jpeg(im, 90), jpeg(im, 95)):
            cells.append(f"{8 * n / sub:>{11 if not cells else 8}.2f} {'yes' if n <= room else 'NO':>4}")
        print(f"{name:<11} {w:>4}x{h:<3} {sigma:>5} {8 * room / sub:>8.2f} | " + " | ".join(cells))
