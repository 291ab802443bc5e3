"""The original file as the sealed payload: the input file's own bytes and extension, given back byte for byte.

The payload is [1-byte extension length | extension (ASCII, e.g. ".jpg", ".JPG", ".jpeg") | the file's bytes],
under the codec byte CODEC_FILE. Everything in the file (EXIF and other metadata included) is inside the AEAD
like any payload. An extension is kept as written when it is one Pillow opens images under (any case), else the
format's usual one; decryption accepts only such extensions, so a payload cannot name a path or a non-image
file type.
"""
from __future__ import annotations

import re

from PIL import Image

from ...errors import TamperedPixelsError

CODEC_FILE = 4

_EXT = re.compile(r"\.[A-Za-z0-9]{1,15}")
_USUAL = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "GIF": ".gif", "BMP": ".bmp", "TIFF": ".tif"}


def _image_exts() -> set[str]:
    """Lower-case extensions of the formats Pillow opens."""
    Image.init()
    return {e for e, f in Image.registered_extensions().items() if f in Image.OPEN}


def is_image_ext(ext: str) -> bool:
    return bool(_EXT.fullmatch(ext)) and ext.lower() in _image_exts()


def file_ext(ext: str, fmt: str | None) -> str | None:
    """The extension recorded for a file named with `ext` holding format `fmt` (Pillow's name): `ext` as written
    when it is an image extension, else the format's usual one; None when neither is known."""
    if is_image_ext(ext):
        return ext
    usual = _USUAL.get(fmt or "")
    if usual is None:
        usual = next((e for e, f in sorted(Image.registered_extensions().items()) if f == fmt), None)
    return usual if usual is not None and is_image_ext(usual) else None


def pack_file(ext: str, data: bytes) -> bytes:
    raw = ext.encode("ascii")
    return bytes([len(raw)]) + raw + data


def unpack_file(payload: bytes) -> tuple[str, bytes]:
    """(extension, file bytes) of a CODEC_FILE payload; TamperedPixelsError when the extension is not an image
    extension (authenticated, so written by a key holder, but never by ric)."""
    n = payload[0] if payload else 0
    ext = payload[1:1 + n].decode("ascii", "replace")
    if not is_image_ext(ext) or len(payload) <= 1 + n:
        raise TamperedPixelsError(f"the sealed file payload names no image extension ({ext!r})")
    return ext, payload[1 + n:]


def file_payload(file: tuple[str, bytes] | None, room: int) -> tuple[int, bytes, None] | None:
    """(CODEC_FILE, payload, None) for an original file (extension, bytes) that fits in `room` bytes, else None."""
    if file is None:
        return None
    packed = pack_file(*file)
    return (CODEC_FILE, packed, None) if len(packed) <= room else None


def sources(original, pixels):
    """(what a pixel payload compresses, the original file as (extension, bytes) or None) for one image:
    `original` is None, a PIL image (kept in its mode), or a ric.io.images.Picture (its decoded image and its file's
    bytes, when the file decodes to exactly the labelled pixels)."""
    if original is None or isinstance(original, Image.Image):
        return (pixels if original is None else original), None
    image = original.image if original.image is not None else pixels
    ext = file_ext(original.ext, original.format) if original.file is not None else None
    return image, (None if ext is None else (ext, original.file))
