"""Reading plaintext images for encryption (conversion policy) and writing recovered images.

Policy (also in `ric encrypt --help`): 8-bit images in any Pillow mode (greyscale, palette, RGBA, CMYK...)
are converted to RGB — alpha is dropped with a warning; 16-bit and floating-point images are refused;
animated or multi-frame files (APNG, GIF, WebP, TIFF pages) are refused; images are encrypted at their own size
(RIC networks are fully convolutional) unless --resize is given; sides must lie in [MIN_SIDE, MAX_SIDE].
"""
from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import InputImageError
from ..storage import read_bytes

MIN_SIDE = 8
MAX_SIDE = 4096
_REFUSED_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


def _png_size(data: bytes):
    """(width, height) from a PNG's IHDR before any decoding (so a huge or bomb image is refused up front)."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return None


def _deep_rawmode(im) -> bool:
    """16-bit samples that Pillow would silently narrow to an 8-bit mode (e.g. a 48-bit RGB PNG opens as RGB)."""
    for t in getattr(im, "tile", None) or ():
        args = t[3] if len(t) > 3 else None
        raw = args if isinstance(args, str) else (args[0] if isinstance(args, tuple) and args else "")
        if isinstance(raw, str) and ";16" in raw:
            return True
    return False


KEPT_MODES = ("1", "L", "LA", "P", "PA", "RGB", "RGBA")   # modes a lossless scheme can give back exactly


def open_image(path: str) -> Image.Image:
    """The decoded image file in its own mode, checked per the policy above (sides, bit depth, decompression
    bombs); InputImageError otherwise."""
    return _open(path)[0]


def _open(path: str, data: bytes | None = None) -> tuple[Image.Image, bytes]:
    """(the decoded image, the file's bytes): the file is read once (not at all when `data` holds its bytes; `path`
    then only names it)."""
    try:
        if data is None:
            data = read_bytes(path)
    except IsADirectoryError:
        raise InputImageError(f"{path} is a directory, not an image") from None
    except OSError as e:
        raise InputImageError(f"cannot read {path}: {e.strerror}") from None
    if not data:
        raise InputImageError(f"{path} is empty (0 bytes)")
    size = _png_size(data)
    if size is not None and not (MIN_SIDE <= size[0] <= MAX_SIDE and MIN_SIDE <= size[1] <= MAX_SIDE):
        raise InputImageError(f"{path} is {size[0]}x{size[1]}; RIC takes sides from {MIN_SIDE} to {MAX_SIDE} pixels")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
        _check_decodable(path, im)
        im.load()
    except InputImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputImageError(f"{path} has too many pixels to decode safely (decompression-bomb guard; RIC takes "
                              f"sides up to {MAX_SIDE} pixels)") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise InputImageError(f"{path} is not a readable image ({type(e).__name__})") from None
    return im, data


def _check_decodable(path: str, im: Image.Image) -> None:
    frames = getattr(im, "n_frames", 1)
    if frames > 1:
        raise InputImageError(f"{path} is animated or has several frames ({frames}); RIC takes single images: "
                              "extract the frames first (e.g. ffmpeg -i IN frame%04d.png) and give those")
    w, h = im.size
    if not (MIN_SIDE <= w <= MAX_SIDE and MIN_SIDE <= h <= MAX_SIDE):
        raise InputImageError(f"{path} is {w}x{h}; RIC takes sides from {MIN_SIDE} to {MAX_SIDE} pixels")
    if _deep_rawmode(im):
        raise InputImageError(f"{path} has 16-bit samples; convert it to 8-bit first")
    if im.mode in _REFUSED_MODES:
        raise InputImageError(f"{path} has {im.mode} pixels (16-bit or float); convert it to 8-bit first")


def _has_alpha(im: Image.Image) -> bool:
    return im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)


def to_rgb(im: Image.Image, resize: tuple[int, int] | None = None) -> np.ndarray:
    """uint8 (H, W, 3) RGB pixels of a decoded image, resized to `resize` (H, W) when given."""
    im = im.convert("RGB")
    if resize is not None and im.size != (resize[1], resize[0]):
        im = im.resize((resize[1], resize[0]), Image.BICUBIC)
    return np.asarray(im, dtype=np.uint8).copy()


def load_image(path: str, resize: tuple[int, int] | None = None) -> np.ndarray:
    """uint8 (H, W, 3) RGB array of an image file, converted per the policy above."""
    im = open_image(path)
    if _has_alpha(im):
        warnings.warn(f"{path}: alpha channel dropped (RIC encrypts RGB)", stacklevel=2)
    return to_rgb(im, resize)


@dataclass
class Picture:
    """An input image for encryption: `pixels` (uint8 (H, W, 3) RGB, what the classifier labels), `image` (the
    decoded file in its own mode, or None) and `file` (the file's bytes, or None) for a lossless scheme, and
    `ext` (the file's extension as written, e.g. ".JPG"; "" when it has none)."""
    pixels: np.ndarray
    image: Image.Image | None = None
    file: bytes | None = None
    ext: str = ""
    format: str | None = None       # Pillow's name of the file's format (JPEG, PNG...)


def load_picture(path: str, resize: tuple[int, int] | None = None, keep_mode: bool = False,
                 data: bytes | None = None) -> Picture:
    """The image at `path` for encryption (or the file whose bytes are `data`, named `path`: a recovered plaintext
    that `ric reencrypt` holds in memory). With `keep_mode` (a lossless scheme) and no resize, the Picture also
    carries the decoded file in its own mode (when it is one of KEPT_MODES) and, when the file holds a single frame
    (so that decoding the file gives exactly the labelled pixels), the file's bytes as read (the file is read
    once)."""
    im, data = _open(path, data)
    if not keep_mode:
        if _has_alpha(im):
            warnings.warn(f"{path}: alpha channel dropped (RIC encrypts RGB)", stacklevel=2)
        return Picture(to_rgb(im, resize))
    whole = resize is None
    original = im if whole and im.mode in KEPT_MODES else None
    single = whole and getattr(im, "n_frames", 1) == 1
    if original is None and not single and _has_alpha(im):
        warnings.warn(f"{path}: alpha channel dropped (RIC encrypts RGB)", stacklevel=2)
    return Picture(to_rgb(im, resize), original, data if single else None, os.path.splitext(path)[1] if single
                   else "", im.format)


def encode_png(pixels: np.ndarray, level: int = 6) -> bytes:
    """An RGB PNG of uint8 (H, W, 3) pixels; `level` is zlib's (1 is faster, a few % larger; same pixels)."""
    buf = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buf, format="PNG", compress_level=level)
    return buf.getvalue()
