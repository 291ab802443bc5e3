"""The `sealed` scheme: lossless, authenticated ciphertexts that a plaintext classifier still labels correctly.

Every ciphertext byte is c = 51·N + B with N ∈ {0..4} (the coarse, adversarial part the classifier sees) and
B ∈ {0..50} (the fine part, which carries data). Pixel layout version 2 is written; version 1 is still read
(see the end).

* B holds a byte stream written as base-51 digits in raster order (7-byte blocks -> 10 digits, least
  significant first; 51**10 > 2**56, so the packing is vectorised in 64-bit integers, at 98.7% of the
  information capacity):
  [magic 'R' | version byte 0x82 | 12-byte nonce | 2-byte key check | 2-byte header check |
  ChaCha20-Poly1305 ciphertext | 16-byte tag], where the AEAD plaintext is [codec | 3-byte length |
  losslessly compressed image | zero padding] filled to the full capacity, so the length leaks nothing (the
  padding is encrypted like the rest). The AEAD key is HKDF(key, nonce, "sealed/v2/aead"). The key check is
  a keyed MAC of the nonce (it links no two images); the header check is an unkeyed checksum of the header
  before it, so that an altered header reads as tampering and not as a wrong key. The version byte is far
  from version 1's (0x01), so no single changed value turns a version-2 header into a version-1 one. The
  D < 10 digits left over after the last block (the filler) are derived from the key and the nonce.
* The associated data binds every value: header ‖ height ‖ width ‖ the coarse plane N = c // 51 of every
  value (raster order) ‖ the filler digits. So any change to any value (its N, its B, or c = 255, which
  reads as N = 5) fails authentication. ChaCha20-Poly1305's ciphertext does not depend on the associated
  data, only its tag does, so encryption computes the ciphertext, optimises N with the blocks holding the tag
  (the last 3) as random digits, then computes the tag over the final N, writes it in, and classifies the
  final ciphertext (a new nonce when it lost the label).
* N is a 5-level noise-like adversarial image for ŷ = argmax C(x): the margin loss through a straight-through
  rounding, with expectation over the real payload and random payloads, so C((51·N + B)/255) = ŷ.
* Decryption reads N and B of every value, checks the header and the key, rebuilds the associated data,
  authenticates, decrypts and decompresses: the exact pixels, with no classifier and no attack. Errors: a
  changed value is TamperedPixelsError, a wrong key WrongKeyError; a change to the first 10 values that
  destroys the magic or the version byte leaves no sealed header (NotSealedError). Nothing is needed from the
  PNG metadata, so stripped ciphertexts still decrypt; a `ric` chunk that is present must be exactly the one
  the encryptor writes (ric.container.sniff: TamperedMetadataError otherwise).

Version 1 ([magic | 0x01 | nonce | 4-byte key check | AEAD ciphertext | tag], associated data = header ‖
height ‖ width, random padding and filler) still decrypts, bit-exactly, but its tag covers B only: its
coarse plane N (what the classifier sees) and its filler digits can be changed without detection.
Re-encrypt version-1 ciphertexts to get version 2's guarantee.
"""
from __future__ import annotations

import hashlib
import hmac
import io
import os
import secrets
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from PIL import Image

from .errors import NAEFailure, RICError, TamperedPixelsError, WrongKeyError
from .keys import Key
from .nae import margin_of
from .noise import keystream, noise_image

BASE = 51                 # L: fine levels
LEVELS = 5                # coarse levels N ∈ {0..4}
BLOCK_BYTES, BLOCK_DIGITS = 7, 10      # 51**10 > 2**56
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
CODEC_WEBP, CODEC_PNG, CODEC_WEBP_LOSSY = 1, 2, 3
_POW = np.array([BASE ** i for i in range(BLOCK_DIGITS)], dtype=np.int64)


class CapacityError(RICError):
    exit_code = 14


class NotSealedError(RICError):
    exit_code = 5


# -- base-51 digit streams ------------------------------------------------------------------------
def capacity_bytes(h: int, w: int, c: int = 3) -> int:
    """Bytes the fine part of an h×w×c image carries (header and AEAD tag included)."""
    return (h * w * c // BLOCK_DIGITS) * BLOCK_BYTES


def bytes_to_digits(data: bytes, n_digits: int, filler: np.ndarray | None = None) -> np.ndarray:
    """Pack bytes (a multiple of 7) into base-51 digits; the remaining digits are `filler` (random when None)."""
    if len(data) % BLOCK_BYTES:
        raise ValueError("data length must be a multiple of the block size")
    blocks = np.frombuffer(data, dtype=np.uint8).reshape(-1, BLOCK_BYTES)
    v = np.zeros((len(blocks), 8), dtype=np.uint8)
    v[:, 1:] = blocks
    v = v.view(">u8").reshape(-1).astype(np.int64)
    digits = ((v[:, None] // _POW[None, :]) % BASE).astype(np.uint8).reshape(-1)
    out = np.empty(n_digits, dtype=np.uint8)
    out[:len(digits)] = digits
    if len(digits) < n_digits:
        rest = n_digits - len(digits)
        if filler is None:
            filler = np.frombuffer(os.urandom(rest), dtype=np.uint8) % BASE
        if len(filler) != rest:
            raise ValueError(f"{rest} filler digits needed, {len(filler)} given")
        out[len(digits):] = filler
    return out


def digits_to_bytes(digits: np.ndarray, n_blocks: int) -> bytes | None:
    """Inverse of bytes_to_digits for the first n_blocks blocks; None if a block does not fit in 7 bytes."""
    d = digits[:n_blocks * BLOCK_DIGITS].astype(np.int64).reshape(n_blocks, BLOCK_DIGITS)
    v = (d * _POW).sum(1)
    if (v >> 56).any():
        return None
    return v.astype(">u8").view(np.uint8).reshape(n_blocks, 8)[:, 1:].tobytes()


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


def seal_body(key: Key, pixels: np.ndarray, nonce: bytes, lossy_fallback=False) -> tuple[PendingSeal, dict]:
    """Compress, pad and encrypt an image (uint8 H, W, 3) under `nonce` (12 bytes): everything but the tag."""
    h, w = pixels.shape[:2]
    cap = capacity_bytes(h, w)
    room = cap - HEADER_BYTES - TAG_BYTES - 4
    if room <= 0:
        raise CapacityError(f"a {w}x{h} image is too small for the sealed scheme")
    if len(nonce) != NONCE_BYTES:
        raise ValueError(f"a sealed nonce is {NONCE_BYTES} bytes")
    codec, data, psnr = compress(pixels, room, lossy_fallback)
    plain = bytes([codec]) + len(data).to_bytes(3, "big") + data
    plain += bytes(room + 4 - len(plain))
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


def open_sealed_pixels(key: Key, pixels: np.ndarray) -> np.ndarray:
    """Recover the exact plaintext pixels from a sealed ciphertext's pixels (uint8 H, W, 3)."""
    return decompress(*open_sealed_payload(key, pixels))


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
    if version == VERSION_1:
        if not hmac.compare_digest(header[2 + NONCE_BYTES:], _keycheck(key, nonce)):
            raise WrongKeyError("the key does not match this ciphertext (wrong key, or its pixel header was "
                                "altered)")
        aead, aad = ChaCha20Poly1305(key.derive("sealed/aead", nonce)), _aad(header, h, w)
    else:
        head = header[:HEADER_BYTES - HCHECK_BYTES]
        if not hmac.compare_digest(header[-HCHECK_BYTES:], _header_check(head)):
            raise TamperedPixelsError("the ciphertext's pixels were altered (its pixel header)")
        if not hmac.compare_digest(head[2 + NONCE_BYTES:], _keycheck_v2(key, nonce)):
            raise WrongKeyError("the key does not match this ciphertext")
        coarse = flat // BASE
        if coarse.max(initial=0) >= LEVELS:
            raise TamperedPixelsError("the ciphertext's pixels were altered (a value above 254)")
        aead = _aead_v2(key, nonce)
        aad = _aad_v2(header, h, w, coarse, fine[cap // BLOCK_BYTES * BLOCK_DIGITS:])
    try:
        plain = aead.decrypt(nonce, stream[HEADER_BYTES:], aad)
    except InvalidTag:
        raise TamperedPixelsError("the ciphertext's pixels were altered (authentication failed)") from None
    n = int.from_bytes(plain[1:4], "big")
    if plain[0] not in _CODEC_FORMAT:
        raise TamperedPixelsError(f"unknown payload codec {plain[0]}")
    if n > len(plain) - 4:
        raise TamperedPixelsError("the sealed payload length exceeds the capacity")
    return plain[0], plain[4:4 + n]


# -- the coarse adversarial part -------------------------------------------------------------------
@dataclass(frozen=True)
class SealedConfig:
    lr: float = 0.1
    max_steps: int = 300
    margin: float = 5.0
    payload_samples: int = 4      # the real payload plus random ones, per step (expectation over payloads)
    max_retries: int = 4


def _ste_round(v: torch.Tensor) -> torch.Tensor:
    return v + (torch.round(v) - v).detach()


def coarse_attack(classifier, fine: torch.Tensor, target: torch.Tensor, init: torch.Tensor,
                  cfg: SealedConfig, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """N (uint8 0..4, shape like fine) such that C((51N + B)/255) = target for the real B = `fine`.

    Returns (N, success, steps): success means the real payload reached the margin and random payloads kept
    the label; steps is the step at which that happened (max_steps when it did not)."""
    n, k = len(fine), cfg.payload_samples
    w = torch.atanh((init * 2 - 1).clamp(-0.999, 0.999)).detach().requires_grad_(True)
    opt = torch.optim.Adam([w], lr=cfg.lr)
    best = torch.round(2 * (torch.tanh(w.detach()) + 1))
    done = torch.zeros(n, dtype=torch.bool, device=fine.device)
    steps = torch.full((n,), cfg.max_steps, dtype=torch.long)
    for step in range(cfg.max_steps + 1):
        act = (~done).nonzero().squeeze(1)          # finished images leave the batch (no determinism needed)
        lev = _ste_round(2 * (torch.tanh(w[act]) + 1))                 # (a, C, H, W) in {0..4}
        rand = torch.randint(0, BASE, (len(act), k - 1, *fine.shape[1:]), generator=gen).to(fine.device).float()
        b = torch.cat([fine[act, None].float(), rand], 1)              # real payload first
        c = (BASE * lev[:, None] + b) / 255
        m = margin_of(classifier(c.flatten(0, 1)), target[act].repeat_interleave(k)).view(len(act), k)
        ok = (m[:, 0] >= cfg.margin) & (m[:, 1:] > 0).all(1)
        if ok.any():
            idx = act[ok]
            best[idx] = lev.detach()[ok]
            steps[idx.cpu()] = step
            done[idx] = True
        if bool(done.all()) or step == cfg.max_steps:
            break
        loss = torch.clamp(-m, min=-cfg.margin).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    best[~done] = torch.round(2 * (torch.tanh(w.detach()) + 1))[~done]
    return best.to(torch.uint8), done, steps


@dataclass
class SealedResult:
    cipher: list[np.ndarray] = field(default_factory=list)   # uint8 (H, W, 3) each
    labels: list[int] = field(default_factory=list)
    info: list[dict] = field(default_factory=list)
    errors: dict = field(default_factory=dict)               # index -> RICError
    retries: int = 0


class SealedCodec:
    """`nonce_source`: a callable returning a fresh nonce (at least 12 bytes; the first 12 are used) per image and
    attempt, e.g. ric.keys.seeded_nonces(seed) for reproducible tests (never for real encryption: nonces then
    repeat across runs). `seed`: seeds the attack's torch.Generator (random payloads and the tag's placeholder
    digits); successive encrypt calls continue its stream. With both set, encryption is deterministic."""

    def __init__(self, classifier: torch.nn.Module, cfg: SealedConfig = SealedConfig(), device="cpu",
                 nonce_source: Callable[[], bytes] | None = None, seed: int | None = None):
        self.device = torch.device(device)
        self.classifier = classifier.to(self.device).eval()
        self.cfg = cfg
        self.nonce_source = nonce_source
        self._gen = None if seed is None else torch.Generator().manual_seed(int(seed))

    def _nonce(self) -> bytes:
        if self.nonce_source is None:
            return secrets.token_bytes(NONCE_BYTES)
        n = bytes(self.nonce_source())
        if len(n) < NONCE_BYTES:
            raise ValueError(f"nonce_source returned {len(n)} bytes; a sealed nonce is {NONCE_BYTES}")
        return n[:NONCE_BYTES]

    @torch.inference_mode()
    def _labels(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(x.to(self.device)).argmax(1).cpu()

    def encrypt(self, images: list[np.ndarray], key: Key, lossy_fallback: bool = False) -> SealedResult:
        """Encrypt same-sized uint8 (H, W, 3) images."""
        res = SealedResult(cipher=[None] * len(images), labels=[None] * len(images), info=[{}] * len(images))
        if not images:
            return res
        x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255
        labels = self._labels(x)
        todo = list(range(len(images)))
        gen = self._gen if self._gen is not None else torch.Generator().manual_seed(secrets.randbits(63))
        req = [p.requires_grad for p in self.classifier.parameters()]
        for p in self.classifier.parameters():
            p.requires_grad_(False)
        try:
            self._attempts(images, key, lossy_fallback, labels, todo, res, gen)
        finally:
            for p, r in zip(self.classifier.parameters(), req):
                p.requires_grad_(r)
        return res

    def _attempts(self, images, key, lossy_fallback, labels, todo, res, gen) -> None:
        for attempt in range(self.cfg.max_retries + 1):
            pends, fines, inits, keep, infos = [], [], [], [], []
            for i in todo:
                nonce = self._nonce()
                try:
                    pend, info = seal_body(key, images[i], nonce, lossy_fallback)
                except RICError as e:       # does not fit: final, no retry
                    res.errors[i] = e
                    continue
                pends.append(pend)
                fines.append(torch.from_numpy(pend.fine_for_attack(gen)).permute(2, 0, 1))
                inits.append(noise_image(key, nonce + bytes(4), (3, *images[i].shape[:2])))
                keep.append(i)
                infos.append(info)
            todo = []
            if not keep:
                break
            fine = torch.stack(fines).to(self.device)
            with torch.enable_grad():
                lev, _, steps = coarse_attack(self.classifier, fine, labels[keep].to(self.device),
                                              torch.stack(inits).to(self.device), self.cfg, gen)
            lev = lev.permute(0, 2, 3, 1).cpu().numpy()
            cipher = [p.finish(n) for p, n in zip(pends, lev)]     # the tag, over the final N, written in
            # classify the very ciphertexts that will be written (their tag digits differ from the attack's)
            got = self._labels(torch.from_numpy(np.stack(cipher)).permute(0, 3, 1, 2).float() / 255)
            for j, i in enumerate(keep):
                if got[j] == labels[i]:
                    res.cipher[i] = cipher[j]
                    res.labels[i] = int(labels[i])
                    res.info[i] = {**infos[j], "attempts": attempt + 1, "steps": int(steps[j])}
                else:
                    todo.append(i)
            res.retries += len(todo)
            if not todo:
                break
        for i in todo:
            res.errors[i] = NAEFailure("no 5-level adversarial image kept the label after "
                                       f"{self.cfg.max_retries + 1} nonces; nothing written")

    @staticmethod
    def decrypt(pixels: np.ndarray, key: Key) -> np.ndarray:
        return open_sealed_pixels(key, pixels)
