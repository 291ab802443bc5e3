"""PNG at the chunk level: one CRC-checked chunk walker (IHDR guard, size bound), metadata text, bounded decoding."""
from __future__ import annotations

import io
import json
import struct
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..errors import ContainerError, ImageSizeError
from ..storage import read_bytes

CHUNK_KEYWORD = "ric"

MAX_METADATA_BYTES = 16384

MAX_PIXELS = 4096 * 4096

MAX_CIPHERTEXT_BYTES = 64 << 20   # the largest ciphertext file RIC reads, and so the largest it writes

_PNG_SIG = b"\x89PNG\r\n\x1a\n"

NADV_CHUNK = b"rcNa"   # ancillary, private, safe-to-copy


@dataclass
class PngLayout:
    """What the chunk walk learnt about a PNG without decoding it."""
    width: int
    height: int
    ric: list            # bodies of the text chunks whose keyword is `ric`
    nadv: list           # bodies of `rcNa` chunks


def walk_png(data: bytes, max_pixels: int = MAX_PIXELS) -> PngLayout:
    """Walk the PNG chunks (CRC-checked) without decoding any pixel: exactly one IHDR, first; its size at most
    `max_pixels`; an IEND, and nothing after it (trailing bytes are not part of a ciphertext, and would be stored
    and served as if they were); no chunk longer than the file. Returns the layout; raises ContainerError, or its
    subclass ImageSizeError for a second IHDR or a size over `max_pixels` (the service answers those with 413)."""
    if not data.startswith(_PNG_SIG):
        raise ContainerError("not a PNG file")
    pos, layout, n_ihdr = len(_PNG_SIG), PngLayout(0, 0, [], []), 0
    while True:
        if pos + 8 > len(data):
            raise ContainerError("truncated PNG file")
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        if length > len(data) - pos - 12:
            raise ContainerError("truncated PNG file (a chunk is longer than the file)")
        body = data[pos + 8:pos + 8 + length]
        crc = data[pos + 8 + length:pos + 12 + length]
        if zlib.crc32(ctype + body) & 0xFFFFFFFF != struct.unpack(">I", crc)[0]:
            raise ContainerError(f"corrupt PNG file (bad CRC in a {ctype.decode('latin-1')!r} chunk)")
        if ctype == b"IHDR":
            n_ihdr += 1
            if n_ihdr > 1:
                raise ImageSizeError("malformed PNG file (two IHDR chunks)", layout.width, layout.height,
                                     ambiguous=True)
            if pos != len(_PNG_SIG) or length != 13:
                raise ContainerError("malformed PNG file (IHDR is not the first chunk or has the wrong length)")
            layout.width, layout.height = struct.unpack(">II", body[:8])
            if layout.width * layout.height > max_pixels:
                raise ImageSizeError(f"image is too large ({layout.width}x{layout.height})", layout.width,
                                     layout.height)
        elif n_ihdr == 0:
            raise ContainerError("malformed PNG file (IHDR is not the first chunk)")
        elif ctype in (b"tEXt", b"iTXt", b"zTXt") and body.split(b"\x00", 1)[0] == CHUNK_KEYWORD.encode():
            layout.ric.append(body)
        elif ctype == NADV_CHUNK:
            layout.nadv.append(body)
        pos += 12 + length
        if ctype == b"IEND":
            if pos != len(data):
                raise ContainerError(f"{len(data) - pos} bytes after the PNG's IEND chunk (not part of a RIC "
                                     "ciphertext; remove them)")
            return layout


def _parse_text_chunk(body: bytes) -> str:
    if b"\x00" not in body:     # the keyword alone, with no separator (found by the fuzz test)
        raise ContainerError("RIC metadata chunk is garbled (no text after its keyword)")
    kw, rest = body.split(b"\x00", 1)
    if len(rest) > MAX_METADATA_BYTES:
        raise ContainerError(f"RIC metadata is too large ({len(rest)} bytes > {MAX_METADATA_BYTES})")
    # iTXt: compression flag, method, language\0, translated keyword\0, text
    try:
        if rest[:1] in (b"\x00", b"\x01") and rest.count(b"\x00") >= 3:
            flag = rest[0]
            if rest[1] != 0:   # PNG defines compression method 0 (zlib) only, also when the flag is 0
                raise ContainerError("RIC metadata chunk is garbled (unknown compression method)")
            lang_rest = rest[2:].split(b"\x00", 2)
            text = lang_rest[2]
            if flag:  # bounded: a small compressed chunk must not inflate into gigabytes
                dec = zlib.decompressobj()
                text = dec.decompress(text, MAX_METADATA_BYTES + 1)
                if len(text) > MAX_METADATA_BYTES or dec.unconsumed_tail:
                    raise ContainerError(f"RIC metadata is too large (over {MAX_METADATA_BYTES} bytes uncompressed)")
            return text.decode("utf-8")
        return rest.decode("latin-1")
    except (zlib.error, UnicodeDecodeError, IndexError):
        raise ContainerError("RIC metadata chunk is garbled") from None

MAX_JSON_DEPTH = 3      # {"phi": {"lr": 0.1}} is depth 2; the sealed scheme's chunk is depth 1


def _json_depth_ok(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Nesting of [ and { outside strings at most `limit`, checked before json.loads (which recurses: 16 KB of
    `[` is a RecursionError, not a ValueError)."""
    depth, in_str, esc = 0, False, False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def load_metadata_json(text: str) -> dict:
    """The metadata text as a JSON object; ContainerError for anything else (garbled, nested too deeply)."""
    if not _json_depth_ok(text):
        raise ContainerError(f"RIC metadata is garbled (JSON nested deeper than {MAX_JSON_DEPTH} levels)")
    try:
        d = json.loads(text)
    except (ValueError, RecursionError):
        raise ContainerError("RIC metadata is not valid JSON (garbled)") from None
    if not isinstance(d, dict):
        raise ContainerError("RIC metadata is garbled (not a JSON object)")
    return d


def _read_bytes(src) -> bytes:
    if isinstance(src, (bytes, bytearray)):
        return bytes(src)
    try:
        data = read_bytes(src, MAX_CIPHERTEXT_BYTES)
    except OSError as e:
        raise ContainerError(f"cannot read {src}: {e.strerror}") from None
    if len(data) > MAX_CIPHERTEXT_BYTES:
        raise ContainerError(f"{src} is too large for a RIC ciphertext")
    return data


def _decode_pixels(data: bytes) -> np.ndarray:
    """Pillow's decode of data that walk_png has accepted (one IHDR, first, of a bounded size: sniff walks first)."""
    try:
        im = Image.open(io.BytesIO(data), formats=["PNG"])   # the chunk walk has already checked the signature
        if im.width * im.height > MAX_PIXELS:
            raise ContainerError(f"image is too large ({im.width}x{im.height})")
        if im.mode != "RGB":
            raise ContainerError(f"a RIC ciphertext is an 8-bit RGB PNG; this one has mode {im.mode}")
        im.load()
    except ContainerError:
        raise
    except Exception as e:  # Pillow raises many types for corrupt data
        raise ContainerError(f"corrupt PNG image data ({type(e).__name__})") from None
    return np.asarray(im, dtype=np.uint8).copy()
