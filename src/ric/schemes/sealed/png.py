"""A sealed ciphertext as a PNG file: the pixels carry everything; one fixed `ric` chunk names the scheme."""
from __future__ import annotations

import io
import json

import numpy as np
from PIL import Image, PngImagePlugin

from ...formats import SEALED_CHUNK_TEXT

# the sealed encryptor's `ric` chunk (an iTXt body), byte for byte: a sealed ciphertext's chunk, if present, is this.
# Its text is the same for every sealed format (the pixel header names the version: ric.formats)
SEALED_CHUNK = b"ric\x00\x00\x00\x00\x00" + json.dumps({"format": SEALED_CHUNK_TEXT, "scheme": "sealed"}).encode()


def encode_sealed_png(pixels: np.ndarray) -> bytes:
    """A sealed ciphertext: the pixels carry everything; the chunk (SEALED_CHUNK, fixed) names the scheme for tools."""
    info = PngImagePlugin.PngInfo()
    info.add(b"iTXt", SEALED_CHUNK)
    buf = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()
