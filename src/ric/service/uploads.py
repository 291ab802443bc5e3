"""Checks on one uploaded file, cheapest first: size, PNG dimensions (read from IHDR before any pixel is
decoded), then the RIC container itself (ric.container.sniff: CRCs, metadata, scheme), and, for the paper
scheme, that the ciphertext was made for the classifier this service runs. No key is involved."""
from __future__ import annotations

import hashlib
import os
import re
import struct
from dataclasses import dataclass

import numpy as np

from ..container import sniff
from ..errors import ContainerError
from .settings import Settings

_PNG_SIG = b"\x89PNG\r\n\x1a\n"
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


def _digest(identity: str) -> str:
    return identity.rsplit("@", 1)[-1]


def check_upload(name: str | None, data: bytes, settings: Settings, classifier_identity: str) -> Checked:
    fname = safe_filename(name)
    if not data:
        raise Rejected(422, "empty_file", f"{fname}: the file is empty")
    if len(data) > settings.max_file_bytes:
        raise Rejected(413, "file_too_large", f"{fname}: {len(data)} bytes; this service takes files up to "
                                              f"{settings.max_file_bytes} bytes")
    if data.startswith(_PNG_SIG) and len(data) >= 24 and data[12:16] == b"IHDR":
        w, h = struct.unpack(">II", data[16:24])
        if max(w, h) > settings.max_side:
            raise Rejected(413, "image_too_large", f"{fname}: the image is {w}x{h}; this service takes sides up "
                                                   f"to {settings.max_side} pixels")
    try:
        scheme, pixels, header = sniff(data)
    except ContainerError as e:
        raise Rejected(422, "not_a_ciphertext", f"{fname}: not a valid RIC ciphertext: {e}") from None
    h, w = pixels.shape[:2]
    if scheme == "paper":
        meta = header.public()
        if _digest(header.classifier) != _digest(classifier_identity):
            raise Rejected(422, "classifier_mismatch",
                           f"{fname}: the ciphertext was made for classifier {header.classifier}; this service "
                           f"classifies with {classifier_identity}")
    else:
        meta = {"format": "ric/1", "scheme": "sealed", "height": h, "width": w}
    return Checked(fname, scheme, pixels, meta, hashlib.sha256(data).hexdigest(), data)
