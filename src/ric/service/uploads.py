"""Checks on one uploaded file, cheapest first: size; the PNG chunk headers (walked without decoding or even
reading chunk bodies: exactly one IHDR, first, its declared size within --max-side); then the RIC container
itself (ric.io.container.sniff: CRCs, metadata, scheme); a claimed sealed ciphertext is verified from its pixels
(ric.schemes.sealed.is_sealed), never trusted from its metadata; the identities a paper ciphertext names must be plain
names, and it must have been made for the classifier this service runs. No key is involved."""
from __future__ import annotations

import hashlib
import os
import re
import struct
from dataclasses import dataclass

import numpy as np

from ..errors import ContainerError, TamperedMetadataError
from ..io.container import sniff
from ..schemes.sealed import is_sealed
from ..schemes.sealed import png as sealed_png
from .settings import Settings

_PNG_SIG = b"\x89PNG\r\n\x1a\n"
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\\"]")
MAX_IDENTITY = 200       # characters of a model or classifier identity `name@digest`
_ILLEGAL_IN_IDENTITY = re.compile(r"[\x00-\x1f\x7f/\\:]")


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


def plain_identity(identity) -> str | None:
    """Why a model/classifier identity from untrusted metadata is not a plain `name[@digest]`, or None if it is.

    A plain identity names nothing on a file system: no path separator, no drive or scheme colon, no `..`, no
    control character, not empty, not absolute, and short. Spaces and the like are allowed (a classifier loaded
    from `my model.safetensors` is called `my model@...`)."""
    if not isinstance(identity, str) or not identity.strip():
        return "is empty"
    if len(identity) > MAX_IDENTITY:
        return f"is longer than {MAX_IDENTITY} characters"
    if _ILLEGAL_IN_IDENTITY.search(identity):
        return "contains a path separator, a colon or a control character"
    if ".." in identity or identity.startswith((".", "~")):
        return "looks like a relative path"
    return None


def _digest(identity: str) -> str:
    return identity.rsplit("@", 1)[-1]


def check_png_headers(fname: str, data: bytes, settings: Settings) -> None:
    """Walk the chunk headers (length and type only; no body is read, no CRC computed, nothing decoded) and
    refuse, with 413, a PNG with more than one IHDR (its decoded size would be ambiguous) or whose IHDR declares
    a side over the limit. An IHDR that is not the first chunk, or a malformed or truncated chunk list, is a 422.
    Data that is not a PNG at all is left to the container check (it names the problem)."""
    if not data.startswith(_PNG_SIG):
        return
    pos, end, ihdrs = len(_PNG_SIG), len(data), []
    while True:
        if pos + 12 > end:
            raise Rejected(422, "not_a_ciphertext", f"{fname}: not a valid RIC ciphertext: truncated PNG file")
        length, ctype = struct.unpack_from(">I4s", data, pos)
        if length > 0x7FFFFFFF or pos + 12 + length > end:
            raise Rejected(422, "not_a_ciphertext", f"{fname}: not a valid RIC ciphertext: truncated PNG file "
                                                    f"(a chunk runs past the end)")
        if ctype == b"IHDR":
            if length != 13:
                raise Rejected(422, "not_a_ciphertext", f"{fname}: not a valid RIC ciphertext: malformed IHDR")
            ihdrs.append((pos, struct.unpack_from(">II", data, pos + 8)))
            if len(ihdrs) > 1:
                raise Rejected(413, "image_too_large", f"{fname}: the PNG has {len(ihdrs)} IHDR chunks, so its "
                                                       f"decoded size is ambiguous; refused without decoding")
        pos += 12 + length
        if ctype == b"IEND":
            break
    if not ihdrs:
        raise Rejected(422, "not_a_ciphertext", f"{fname}: not a valid RIC ciphertext: the PNG has no IHDR chunk")
    at, (w, h) = ihdrs[0]
    if max(w, h) > settings.max_side:
        raise Rejected(413, "image_too_large", f"{fname}: the image is {w}x{h}; this service takes sides up "
                                               f"to {settings.max_side} pixels")
    if at != len(_PNG_SIG):
        raise Rejected(422, "not_a_ciphertext", f"{fname}: not a valid RIC ciphertext: IHDR is not the first chunk")


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
    h, w = pixels.shape[:2]
    if scheme == "paper":
        for field, ident in (("model", header.model), ("classifier", header.classifier)):
            why = plain_identity(ident)
            if why is not None:
                raise Rejected(422, "bad_identity", f"{fname}: the ciphertext's {field} identity {why}; a plain "
                                                    f"name@digest is expected")
        meta = header.public()
        if _digest(header.classifier) != _digest(classifier_identity):
            raise Rejected(422, "classifier_mismatch",
                           f"{fname}: the ciphertext was made for classifier {header.classifier}; this service "
                           f"classifies with {classifier_identity}")
    else:
        if not is_sealed(pixels):   # the metadata says "sealed"; only the pixels can show it
            raise Rejected(422, "not_a_ciphertext", f"{fname}: not a valid RIC ciphertext: its metadata claims the "
                                                    f"sealed scheme but its pixels carry no sealed header")
        meta = {"format": sealed_png.SEALED_FORMAT, "scheme": "sealed", "height": h, "width": w}
    return Checked(fname, scheme, pixels, meta, hashlib.sha256(data).hexdigest(), data)
