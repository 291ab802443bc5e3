"""The sealed payload: the input file itself (ric.schemes.sealed.original), or the plaintext image compressed
losslessly (PNG or WebP), or lossily when asked and needed."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from ...errors import CapacityError, TamperedPixelsError
from .original import CODEC_FILE, unpack_file

CODEC_WEBP, CODEC_PNG, CODEC_WEBP_LOSSY = 1, 2, 3

CODECS = (CODEC_WEBP, CODEC_PNG, CODEC_WEBP_LOSSY, CODEC_FILE)


LOSSLESS_MODES = ("1", "L", "LA", "P", "PA", "RGB", "RGBA")     # kept exactly: PNG holds each of them
WEBP_MODES = ("RGB", "RGBA")                                    # WebP lossless holds these only


def as_image(pixels) -> Image.Image:
    """The image to compress: a PIL image in its own mode (kept exactly), or uint8 (H, W, 3) RGB pixels."""
    if isinstance(pixels, Image.Image):
        if pixels.mode not in LOSSLESS_MODES:
            raise ValueError(f"the sealed payload keeps modes {', '.join(LOSSLESS_MODES)}; got {pixels.mode}")
        return pixels
    return Image.fromarray(np.asarray(pixels, dtype=np.uint8), "RGB")


# WebP lossless efforts tried in turn until one fits (docs/results.md, "Sealed payload compression"): method 1 is
# 60x (32x32) to 380x (160x160) faster than method 6, smaller on CIFAR-10 and 5% larger on CelebA faces; method 4
# is the smallest on faces. The method is not recorded: any WebP decodes the same way, and the payload is padded.
WEBP_METHODS = (1, 4)
# PNG efforts in turn (zlib's default level, then PIL's optimize): on a 2000x1334 photo optimize took 5.6 s against
# 0.8 s for a file 4% smaller, and the payload is padded to the capacity anyway; where the default does not fit
# (CIFAR-10 at 32x32 sits near the capacity) optimize is still tried.
PNG_OPTIMIZE = (False, True)


def _encode(im, codec: int, quality: int = 100, method: int = 6, optimize: bool = False) -> bytes:
    im, buf = as_image(im), io.BytesIO()
    if codec == CODEC_WEBP:
        im.save(buf, format="WEBP", lossless=True, quality=100, method=method)
    elif codec == CODEC_PNG:
        im.save(buf, format="PNG", optimize=optimize)
    else:
        im.save(buf, format="WEBP", quality=quality, method=6)
    return buf.getvalue()


def compress(pixels, room: int, lossy_fallback: bool = False) -> tuple[int, bytes, float | None]:
    """(codec, bytes, PSNR or None when lossless) for `pixels` (uint8 RGB, or a PIL image whose mode is kept: L,
    LA, P, RGB, RGBA...): PNG when it fits (zlib's default level, then PIL's optimize: PNG_OPTIMIZE; the
    decryptor then writes the payload as the output file, with no decoding and re-encoding), else WebP lossless
    when it fits (RGB and RGBA only; a fast effort first, then a thorough one: WEBP_METHODS); with lossy_fallback
    the highest WebP quality that fits when no lossless encoding does (RGB). Raises CapacityError otherwise. The
    choice leaks nothing: the payload is padded to the full capacity before it is encrypted."""
    im = as_image(pixels)
    candidates = []
    for optimize in PNG_OPTIMIZE:
        candidates.append((CODEC_PNG, _encode(im, CODEC_PNG, optimize=optimize)))
        if len(candidates[-1][1]) <= room:      # the faster effort fits: the slower is not tried
            return candidates[-1][0], candidates[-1][1], None
    for method in WEBP_METHODS if im.mode in WEBP_MODES else ():
        candidates.append((CODEC_WEBP, _encode(im, CODEC_WEBP, method=method)))
        if len(candidates[-1][1]) <= room:      # the faster effort fits: the slower is not tried
            break
    best = min(candidates, key=lambda t: len(t[1]))
    if len(best[1]) <= room:
        return best[0], best[1], None
    if not lossy_fallback:
        w, h = im.size
        raise CapacityError(f"the image ({w}x{h}) compresses losslessly to {len(best[1])} bytes but a {w}x{h} "
                            f"sealed ciphertext carries {room}; use --lossy-fallback or the paper scheme")
    return _lossy(im.convert("RGB"), room)


def _lossy(im: Image.Image, room: int) -> tuple[int, bytes, float]:
    """The highest WebP quality that fits `room` bytes, and its PSNR against `im`."""
    lo, hi, fit = 0, 100, None
    while lo <= hi:
        q = (lo + hi) // 2
        data = _encode(im, CODEC_WEBP_LOSSY, q)
        if len(data) <= room:
            fit, lo = (q, data), q + 1
        else:
            hi = q - 1
    if fit is None:
        raise CapacityError(f"the image does not fit even as WebP quality 0 ({room} bytes available)")
    dec = np.asarray(Image.open(io.BytesIO(fit[1])).convert("RGB"), dtype=np.float64)
    mse = ((dec - np.asarray(im, dtype=np.float64)) ** 2).mean()
    return CODEC_WEBP_LOSSY, fit[1], float("inf") if mse == 0 else 10 * np.log10(255 ** 2 / mse)


_CODEC_FORMAT = {CODEC_WEBP: "WEBP", CODEC_PNG: "PNG", CODEC_WEBP_LOSSY: "WEBP"}


def decode_image(codec: int, data: bytes) -> Image.Image:
    """The payload as a PIL image in the mode it was stored in (exactly the encrypted file's pixels)."""
    if codec not in CODECS:
        raise TamperedPixelsError(f"unknown payload codec {codec}")
    if codec == CODEC_FILE:        # any format Pillow opened at encryption
        im = Image.open(io.BytesIO(unpack_file(data)[1]))
    else:   # the codec byte names the format, so Pillow need not probe its other plugins (half the decode time)
        im = Image.open(io.BytesIO(data), formats=[_CODEC_FORMAT[codec]])
    im.load()
    return im


def decompress(codec: int, data: bytes) -> np.ndarray:
    """The payload as uint8 (H, W, 3) RGB pixels (what a classifier sees; decode_image keeps the mode)."""
    im = decode_image(codec, data)
    return np.array(im if im.mode == "RGB" else im.convert("RGB"), dtype=np.uint8)


def output_ext(codec: int, data: bytes) -> str:
    """The recovered file's extension: the original file's own (CODEC_FILE), else ".png"."""
    return unpack_file(data)[0] if codec == CODEC_FILE else ".png"


def to_file(codec: int, data: bytes) -> bytes:
    """The recovered file: the original file byte for byte (CODEC_FILE), a PNG payload as it is (the encryptor's
    own PNG), any other decoded into a PNG of its mode."""
    if codec == CODEC_FILE:
        return unpack_file(data)[1]
    if codec == CODEC_PNG:
        return data
    buf = io.BytesIO()
    decode_image(codec, data).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()
