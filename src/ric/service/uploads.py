"""Checks on one uploaded file, cheapest first: size; the PNG chunk walk (ric.io.png.walk_png: CRCs, exactly one
IHDR, first, its declared sides within --max-side; nothing decoded); then the RIC container itself
(ric.schemes.container.sniff: metadata, scheme, pixels); then the scheme's own upload check
(ric.schemes.registry.SchemeSpec.check_upload: a claimed sealed ciphertext is verified from its pixels, never trusted
from its metadata; the identities a paper ciphertext names must be plain names, and it must have been made for the
classifier this service runs). No key is involved."""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass

import numpy as np

from ..errors import ContainerError, ImageSizeError, TamperedMetadataError, UploadRefused
from ..io.png import MAX_PIXELS, PngLayout, walk_png
from ..schemes.container import sniff
from ..schemes.registry import scheme_spec
from .settings import Settings

_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\\"]")


class Rejected(Exception):
    """An upload the service refuses: HTTP status, a short machine code and a one-line message."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Checked:
    filename: str
    scheme: str
    pixels: np.ndarray
    meta: dict
    sha256: str
    data: bytes


def safe_filename(name: str | None) -> str:
    """The base name of a client-supplied file name, without path parts or control characters."""
    base = os.path.basename((name or "").replace("\\", "/"))
    base = _UNSAFE.sub("_", base).strip()[:200]
    return base if base not in ("", ".", "..") else "upload.png"


def check_png_headers(fname: str, data: bytes, settings: Settings) -> PngLayout:
    """The PNG's chunk walk (ric.io.png.walk_png: CRC-checked, nothing decoded), refusing with 413 a PNG with a
    second IHDR (its decoded size would be ambiguous) or whose IHDR declares a side over the limit; any other
    flaw of the chunk list (not a PNG, truncated, bad CRC, IHDR not first) is a 422."""
    try:
        layout = walk_png(data, max_pixels=min(MAX_PIXELS, settings.max_side ** 2))
    except ImageSizeError as e:
        if e.ambiguous:
            raise Rejected(413, "image_too_large", f"{fname}: the PNG has 2 IHDR chunks, so its decoded size is "
                                                   f"ambiguous; refused without decoding") from None
        raise _side_over_limit(fname, e.width, e.height, settings) from None
    except ContainerError as e:
        raise Rejected(422, "not_a_ciphertext", f"{fname}: not a valid RIC ciphertext: {e}") from None
    if max(layout.width, layout.height) > settings.max_side:
        raise _side_over_limit(fname, layout.width, layout.height, settings)
    return layout


def _side_over_limit(fname: str, w: int, h: int, settings: Settings) -> Rejected:
    return Rejected(413, "image_too_large", f"{fname}: the image is {w}x{h}; this service takes sides up to "
                                           f"{settings.max_side} pixels")


def check_upload(name: str | None, data: bytes, settings: Settings, classifier_identity: str) -> Checked:
    fname = safe_filename(name)
    if not data:
        raise Rejected(422, "empty_file", f"{fname}: the file is empty")
    if len(data) > settings.max_file_bytes:
        raise Rejected(413, "file_too_large", f"{fname}: {len(data)} bytes; this service takes files up to "
                                              f"{settings.max_file_bytes} bytes")
    check_png_headers(fname, data, settings)
    try:
        scheme, pixels, header = sniff(data)
    except (ContainerError, TamperedMetadataError) as e:   # the latter: a sealed file's altered metadata chunk
        raise Rejected(422, "not_a_ciphertext", f"{fname}: not a valid RIC ciphertext: {e}") from None
    except (RecursionError, ValueError, TypeError, KeyError, IndexError, OverflowError, MemoryError) as e:
        # the container should raise ContainerError for every malformed input; anything else is still the
        # uploader's malformed file, never a 500 (e.g. metadata JSON nested deeper than the parser goes)
        raise Rejected(422, "not_a_ciphertext", f"{fname}: not a valid RIC ciphertext: its metadata could not "
                                                f"be parsed ({type(e).__name__})") from None
    try:     # the scheme's own check (ric.schemes.registry): identities, classifier, sealed pixels
        meta = scheme_spec(scheme).check_upload(pixels, header, classifier_identity)
    except UploadRefused as e:
        raise Rejected(422, e.code, f"{fname}: {e}") from None
    return Checked(fname, scheme, pixels, meta, hashlib.sha256(data).hexdigest(), data)
