"""Test images that behave like photos (shared by the sealed-scheme and CLI tests)."""
import numpy as np


def smooth_images(n, h=16, w=16, seed=0):
    """Gradients with a little texture: compressible like photos, unlike uniform noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    out = []
    for _ in range(n):
        a = rng.uniform(0, 1, (3, 3))
        img = np.stack([a[c, 0] * yy + a[c, 1] * xx + a[c, 2] * 0.3 for c in range(3)], -1)
        out.append(np.clip(img * 200 + rng.integers(0, 3, img.shape), 0, 255).astype(np.uint8))
    return out


def psnr_u8(a, b) -> float:
    """PSNR in dB of two uint8 images (H, W, C) or stacks of them, through ric.metrics (the mean over images of
    each one's PSNR; inf where they are equal)."""
    import torch

    from ric.metrics import psnr
    x, y = (torch.from_numpy(np.asarray(v, dtype=np.float64) / 255) for v in (a, b))
    if x.ndim == 3:
        x, y = x[None], y[None]
    return float(psnr(x, y))
