"""The sealed byte stream in the fine digits: header, AEAD of the padded payload, a tag over the coarse plane."""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import numpy as np
import torch
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from ...errors import CapacityError, NotSealedError, TamperedPixelsError, WrongKeyError
from ...keys import Key
from ...noise import keystream
from .digits import BASE, BLOCK_BYTES, BLOCK_DIGITS, LEVELS, bytes_to_digits, capacity_bytes, digits_to_bytes
from .original import file_payload
from .payload import CODECS, as_image, compress, decompress, output_ext, to_file

MAGIC, VERSION = b"R", 2  # VERSION: the pixel layout written; VERSIONS: those read

VERSION_1 = 1

VERSIONS = (VERSION_1, VERSION)

# the header's version byte: version 2's is 0x82, far from 1, so that no change of a single value of a version-2
# header (the first 10 digits hold 'R', the version byte and 5 nonce bytes) reads as version 1, whose header
# cannot tell an altered header from a wrong key
VERSION_BYTE = {VERSION_1: 0x01, VERSION: 0x82}

_VERSION_OF = {b: v for v, b in VERSION_BYTE.items()}

NONCE_BYTES, CHECK_BYTES, TAG_BYTES = 12, 4, 16

CHECK_BYTES_V2, HCHECK_BYTES = 2, 2    # version 2 splits version 1's 4 key-check bytes

HEADER_BYTES = 2 + NONCE_BYTES + CHECK_BYTES       # 18 in both versions


# -- sealing the byte stream ------------------------------------------------------------------------
def _keycheck(key: Key, nonce: bytes) -> bytes:
    """Version 1's 4-byte key check."""
    return hmac.new(key.derive("sealed/keycheck", nonce), b"ric-sealed", hashlib.sha256).digest()[:CHECK_BYTES]


def _keycheck_v2(key: Key, nonce: bytes) -> bytes:
    return hmac.new(key.derive("sealed/keycheck", nonce), b"ric-sealed/2",
                    hashlib.sha256).digest()[:CHECK_BYTES_V2]


def _header_check(head: bytes) -> bytes:
    """Version 2: an unkeyed checksum of magic, version, nonce and key check (anyone can compute it; it only
    tells an altered header from a wrong key)."""
    return hashlib.sha256(b"ric-sealed/2/header" + head).digest()[:HCHECK_BYTES]


def _header_v2(key: Key, nonce: bytes) -> bytes:
    head = MAGIC + bytes([VERSION_BYTE[VERSION]]) + nonce + _keycheck_v2(key, nonce)
    return head + _header_check(head)


def _aad(header: bytes, h: int, w: int) -> bytes:
    """Version 1's associated data (the fine digits' header and the image size only)."""
    return header + h.to_bytes(4, "big") + w.to_bytes(4, "big")


def _aad_v2(header: bytes, h: int, w: int, coarse: np.ndarray, filler: np.ndarray) -> bytes:
    """Version 2's associated data: header, size, the coarse plane N of every value (uint8, raster order) and the
    filler digits. Their lengths follow from h and w, so the concatenation is unambiguous."""
    return (header + h.to_bytes(4, "big") + w.to_bytes(4, "big") + coarse.astype(np.uint8).tobytes()
            + filler.astype(np.uint8).tobytes())


def _filler(key: Key, nonce: bytes, n: int) -> np.ndarray:
    """Version 2's filler digits (after the last block): keyed, so encryption is a function of the nonce; they are
    authenticated as associated data."""
    if n == 0:
        return np.zeros(0, dtype=np.uint8)
    return np.frombuffer(keystream(key, nonce, "sealed/v2/filler", n), dtype=np.uint8) % BASE


def _aead_v2(key: Key, nonce: bytes) -> ChaCha20Poly1305:
    return ChaCha20Poly1305(key.derive("sealed/v2/aead", nonce))


@dataclass
class PendingSeal:
    """A version-2 stream before its tag: the tag depends on the coarse plane N, which is chosen after the body."""
    key: Key
    nonce: bytes
    shape: tuple                 # (H, W, 3)
    header: bytes
    plain: bytes
    body: bytes                  # the AEAD ciphertext without its tag (independent of the associated data)
    filler: np.ndarray

    @property
    def n_blocks(self) -> int:
        return (len(self.header) + len(self.body) + TAG_BYTES) // BLOCK_BYTES

    @property
    def tag_digits(self) -> slice:
        """The digit positions of the blocks that hold (part of) the tag: unknown until N is fixed."""
        first = (len(self.header) + len(self.body)) // BLOCK_BYTES
        return slice(first * BLOCK_DIGITS, self.n_blocks * BLOCK_DIGITS)

    def fine_for_attack(self, gen: torch.Generator) -> np.ndarray:
        """B (uint8 H, W, 3) with the tag's blocks as random digits: what the attack optimises N against."""
        h, w, c = self.shape
        d = bytes_to_digits(self.header + self.body + bytes(TAG_BYTES), h * w * c, self.filler)
        t = self.tag_digits
        d[t] = torch.randint(0, BASE, (t.stop - t.start,), generator=gen).numpy().astype(np.uint8)
        return d.reshape(self.shape)

    def finish(self, coarse: np.ndarray) -> np.ndarray:
        """The ciphertext (uint8 H, W, 3) for a coarse plane N (uint8 0..4, H, W, 3): the tag over N written in."""
        h, w = self.shape[:2]
        coarse = np.asarray(coarse, dtype=np.uint8)
        if coarse.shape != tuple(self.shape) or coarse.max(initial=0) >= LEVELS:
            raise ValueError(f"the coarse plane must be uint8 {tuple(self.shape)} in 0..{LEVELS - 1}")
        ct = _aead_v2(self.key, self.nonce).encrypt(self.nonce, self.plain,
                                                    _aad_v2(self.header, h, w, coarse, self.filler))
        if ct[:-TAG_BYTES] != self.body:      # ChaCha20-Poly1305: the associated data changes only the tag
            raise AssertionError("AEAD body depends on the associated data")
        fine = bytes_to_digits(self.header + ct, coarse.size, self.filler).reshape(self.shape)
        return (BASE * coarse.astype(np.int16) + fine).astype(np.uint8)


LENGTH_BYTES = 3                    # the payload's length, big-endian, after its codec byte
PREFIX_BYTES = 1 + LENGTH_BYTES     # codec byte + length: what the AEAD plaintext holds before the payload


def payload_room(h: int, w: int) -> int:
    """Bytes of compressed image an h×w sealed ciphertext holds: its capacity less the header, the AEAD tag and
    the payload's codec and length prefix (the rest is zero padding, encrypted like the payload)."""
    return capacity_bytes(h, w) - HEADER_BYTES - TAG_BYTES - PREFIX_BYTES


def seal_body(key: Key, pixels: np.ndarray, nonce: bytes, lossy_fallback=False,
              file: tuple[str, bytes] | None = None) -> tuple[PendingSeal, dict]:
    """Compress, pad and encrypt an image under `nonce` (12 bytes): everything but the tag. `pixels`: uint8 (H, W, 3)
    RGB, or a PIL image whose mode the payload keeps (payload.compress). `file`: the original file (extension,
    bytes) that decodes to `pixels`: the payload when it fits (CODEC_FILE), else the pixels are compressed."""
    image = as_image(pixels)
    w, h = image.size
    cap = capacity_bytes(h, w)
    room = payload_room(h, w)
    if room <= 0:
        raise CapacityError(f"a {w}x{h} image is too small for the sealed scheme")
    if len(nonce) != NONCE_BYTES:
        raise ValueError(f"a sealed nonce is {NONCE_BYTES} bytes")
    codec, data, psnr = file_payload(file, room) or compress(image, room, lossy_fallback)
    plain = bytes([codec]) + len(data).to_bytes(LENGTH_BYTES, "big") + data
    plain += bytes(room + PREFIX_BYTES - len(plain))
    header = _header_v2(key, nonce)
    body = _aead_v2(key, nonce).encrypt(nonce, plain, b"")[:-TAG_BYTES]
    assert len(header) + len(body) + TAG_BYTES == cap
    filler = _filler(key, nonce, h * w * 3 - cap // BLOCK_BYTES * BLOCK_DIGITS)
    return (PendingSeal(key, nonce, (h, w, 3), header, plain, body, filler),
            {"codec": codec, "payload_bytes": len(data), "capacity_bytes": room, "lossy_psnr": psnr})


def seal_pixels(key: Key, pixels: np.ndarray, nonce: bytes, coarse: np.ndarray, lossy_fallback=False) -> np.ndarray:
    """A version-2 ciphertext for a given coarse plane, with no attack (so the classifier need not keep the label):
    for tests and tools."""
    return seal_body(key, pixels, nonce, lossy_fallback)[0].finish(coarse)


def seal_stream(key: Key, pixels: np.ndarray, nonce: bytes, lossy_fallback=False) -> tuple[bytes, dict]:
    """The version-2 fine byte stream (its length is the capacity) with a provisional tag (over N = 0): the fine
    digits an attack would see. The written tag depends on the final N (PendingSeal.finish)."""
    pend, info = seal_body(key, pixels, nonce, lossy_fallback)
    h, w = pixels.shape[:2]
    ct = _aead_v2(key, nonce).encrypt(nonce, pend.plain,
                                      _aad_v2(pend.header, h, w, np.zeros((h, w, 3), np.uint8), pend.filler))
    return pend.header + ct, info


def fine_digits(stream: bytes, shape) -> np.ndarray:
    h, w, c = shape
    return bytes_to_digits(stream, h * w * c).reshape(h, w, c)


def sealed_version(pixels: np.ndarray) -> int | None:
    """The pixel-layout version a ciphertext's first block names (1 or 2), or None: no key needed."""
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.size < BLOCK_DIGITS:
        return None
    first = digits_to_bytes(pixels.reshape(-1)[:BLOCK_DIGITS] % BASE, 1)
    if first is None or first[:1] != MAGIC:
        return None
    return _VERSION_OF.get(first[1])


def is_sealed(pixels: np.ndarray) -> bool:
    """Cheap test of the pixel header (magic and a known version), without the key."""
    return sealed_version(pixels) is not None


def _check_header(key: Key, header: bytes, version: int) -> None:
    """The pixel header's own checks: TamperedPixelsError when version 2's header check fails, WrongKeyError when
    the key check does."""
    nonce = header[2:2 + NONCE_BYTES]
    if version == VERSION_1:
        if not hmac.compare_digest(header[2 + NONCE_BYTES:], _keycheck(key, nonce)):
            raise WrongKeyError("the key does not match this ciphertext (wrong key, or its pixel header was "
                                "altered)")
        return
    head = header[:HEADER_BYTES - HCHECK_BYTES]
    if not hmac.compare_digest(header[-HCHECK_BYTES:], _header_check(head)):
        raise TamperedPixelsError("the ciphertext's pixels were altered (its pixel header)")
    if not hmac.compare_digest(head[2 + NONCE_BYTES:], _keycheck_v2(key, nonce)):
        raise WrongKeyError("the key does not match this ciphertext")


def keycheck_matches(key: Key, pixels: np.ndarray) -> bool:
    """True when the pixel header is intact and its key check matches `key` (no authentication of the rest)."""
    version = sealed_version(pixels)
    head = pixels.reshape(-1)[:3 * BLOCK_DIGITS]
    first = digits_to_bytes(head % BASE, 3) if head.size == 3 * BLOCK_DIGITS else None
    if version is None or first is None:
        return False
    try:
        _check_header(key, first[:HEADER_BYTES], version)
    except (TamperedPixelsError, WrongKeyError):
        return False
    return True


def open_sealed_pixels(key: Key, pixels: np.ndarray) -> np.ndarray:
    """Recover the exact plaintext pixels from a sealed ciphertext's pixels (uint8 H, W, 3)."""
    return decompress(*open_sealed_payload(key, pixels))


def open_sealed_file(key: Key, pixels: np.ndarray) -> tuple[str, bytes]:
    """The recovered file of a sealed ciphertext's pixels: (extension, bytes), the original file byte for byte where
    it is the payload, else (".png", a PNG of the exact pixels)."""
    codec, data = open_sealed_payload(key, pixels)
    return output_ext(codec, data), to_file(codec, data)


def open_sealed_payload(key: Key, pixels: np.ndarray) -> tuple[int, bytes]:
    """(codec, compressed image) sealed in a ciphertext's pixels, authenticated and decrypted; not yet decoded.

    Version 2 authenticates every value (N and B). Errors: NotSealedError (no sealed pixel header),
    TamperedPixelsError (any value changed, the header included), WrongKeyError (the header is intact and
    the key check fails)."""
    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise NotSealedError("not a sealed RIC ciphertext (a sealed ciphertext is uint8 RGB)")
    h, w = pixels.shape[:2]
    cap = capacity_bytes(h, w)
    flat = pixels.reshape(-1)
    fine = flat % BASE
    version = sealed_version(pixels)
    stream = digits_to_bytes(fine, cap // BLOCK_BYTES) if cap else None
    if version is None:
        raise NotSealedError("not a sealed RIC ciphertext (pixel header missing)")
    if stream is None:      # the header block is intact, a later block is not
        raise TamperedPixelsError("the ciphertext's pixels were altered (a payload block is out of range)")
    nonce = stream[2:2 + NONCE_BYTES]
    header = stream[:HEADER_BYTES]
    _check_header(key, header, version)
    if version == VERSION_1:
        aead, aad = ChaCha20Poly1305(key.derive("sealed/aead", nonce)), _aad(header, h, w)
    else:
        coarse = flat // BASE
        if coarse.max(initial=0) >= LEVELS:
            raise TamperedPixelsError("the ciphertext's pixels were altered (a value above 254)")
        aead = _aead_v2(key, nonce)
        aad = _aad_v2(header, h, w, coarse, fine[cap // BLOCK_BYTES * BLOCK_DIGITS:])
    try:
        plain = aead.decrypt(nonce, stream[HEADER_BYTES:], aad)
    except InvalidTag:
        raise TamperedPixelsError("the ciphertext's pixels were altered (authentication failed)") from None
    n = int.from_bytes(plain[1:PREFIX_BYTES], "big")
    if plain[0] not in CODECS:
        raise TamperedPixelsError(f"unknown payload codec {plain[0]}")
    if n > len(plain) - PREFIX_BYTES:
        raise TamperedPixelsError("the sealed payload length exceeds the capacity")
    return plain[0], plain[PREFIX_BYTES:PREFIX_BYTES + n]
