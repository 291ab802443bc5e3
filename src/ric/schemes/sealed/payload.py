"""The sealed payload: the plaintext image compressed losslessly (PNG or WebP), or lossily when asked and needed."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from ...errors import CapacityError, TamperedPixelsError

CODEC_WEBP, CODEC_PNG, CODEC_WEBP_LOSSY = 1, 2, 3


# -- payload (compressed image) -------------------------------------------------------------------
def _encode(pixels: np.ndarray, codec: int, quality: int = 100) -> bytes:
    buf = io.BytesIO()
    im = Image.fromarray(pixels, "RGB")
    if codec == CODEC_WEBP:
        im.save(buf, format="WEBP", lossless=True, quality=100, method=6)
    elif codec == CODEC_PNG:
        im.save(buf, format="PNG", optimize=True)
    else:
        im.save(buf, format="WEBP", quality=quality, method=6)
    return buf.getvalue()


def compress(pixels: np.ndarray, room: int, lossy_fallback: bool = False) -> tuple[int, bytes, float | None]:
    """(codec, bytes, PSNR or None when lossless): PNG when it fits (the decryptor then writes the payload as the
    output file, with no decoding and re-encoding), else WebP lossless when it fits; with lossy_fallback the
    highest WebP quality that fits when no lossless encoding does. Raises CapacityError otherwise. The choice
    leaks nothing: the payload is padded to the full capacity before it is encrypted."""
    png = _encode(pixels, CODEC_PNG)
    if len(png) <= room:
        return CODEC_PNG, png, None
    best = min(((CODEC_WEBP, _encode(pixels, CODEC_WEBP)), (CODEC_PNG, png)), key=lambda t: len(t[1]))
    if len(best[1]) <= room:
        return best[0], best[1], None
    if not lossy_fallback:
        h, w = pixels.shape[:2]
        raise CapacityError(f"the image ({w}x{h}) compresses losslessly to {len(best[1])} bytes but a {w}x{h} "
                            f"sealed ciphertext carries {room}; use --lossy-fallback or the paper scheme")
    lo, hi, fit = 0, 100, None
    while lo <= hi:
        q = (lo + hi) // 2
        data = _encode(pixels, CODEC_WEBP_LOSSY, q)
        if len(data) <= room:
            fit, lo = (q, data), q + 1
        else:
            hi = q - 1
    if fit is None:
        raise CapacityError(f"the image does not fit even as WebP quality 0 ({room} bytes available)")
    dec = np.asarray(Image.open(io.BytesIO(fit[1])).convert("RGB"), dtype=np.float64)
    mse = ((dec - pixels.astype(np.float64)) ** 2).mean()
    return CODEC_WEBP_LOSSY, fit[1], float("inf") if mse == 0 else 10 * np.log10(255 ** 2 / mse)

_CODEC_FORMAT = {CODEC_WEBP: "WEBP", CODEC_PNG: "PNG", CODEC_WEBP_LOSSY: "WEBP"}


def decompress(codec: int, data: bytes) -> np.ndarray:
    if codec not in _CODEC_FORMAT:
        raise TamperedPixelsError(f"unknown payload codec {codec}")
    # the codec byte names the format, so Pillow need not probe its other plugins (half the decode time at 32x32)
    im = Image.open(io.BytesIO(data), formats=[_CODEC_FORMAT[codec]])
    if im.mode != "RGB":
        im = im.convert("RGB")
    return np.array(im, dtype=np.uint8)
