"""The `sealed` scheme: lossless, authenticated ciphertexts that a plaintext classifier still labels correctly.

Every ciphertext byte is c = 51·N + B with N ∈ {0..4} (the coarse, adversarial part the classifier sees) and
B ∈ {0..50} (the fine part, which carries data):

* B holds a byte stream written as base-51 digits in raster order (7-byte blocks -> 10 digits, least
  significant first; 51**10 > 2**56, so the packing is vectorised in 64-bit integers, at 98.7% of the
  information capacity):
  [magic 'R' | version | 12-byte nonce | 4-byte key check | ChaCha20-Poly1305 ciphertext], where the AEAD
  plaintext is [codec | 3-byte length | losslessly compressed image | random padding] filled to the full
  capacity, so the length leaks nothing. The AEAD key is HKDF(key, nonce, "sealed/aead"); the associated data
  is the header and the image size. Digits left over after the last block are random.
* N is a 5-level noise-like adversarial image for ŷ = argmax C(x): the margin loss through a straight-through
  rounding, with expectation over the real payload and random payloads, so C((51·N + B)/255) = ŷ.
* Decryption reads B, checks the key, authenticates, decrypts and decompresses: the exact pixels, with no
  classifier and no attack. Nothing is needed from the PNG metadata, so stripped ciphertexts still decrypt.
"""
from __future__ import annotations

import hashlib
import hmac
import io
import os
import secrets
from dataclasses import dataclass, field

import numpy as np
import torch
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from PIL import Image

from .errors import NAEFailure, RICError, TamperedPixelsError, WrongKeyError
from .keys import Key
from .nae import margin_of
from .noise import noise_image

BASE = 51                 # L: fine levels
LEVELS = 5                # coarse levels N ∈ {0..4}
BLOCK_BYTES, BLOCK_DIGITS = 7, 10      # 51**10 > 2**56
MAGIC, VERSION = b"R", 1
NONCE_BYTES, CHECK_BYTES, TAG_BYTES = 12, 4, 16
HEADER_BYTES = 2 + NONCE_BYTES + CHECK_BYTES
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


def bytes_to_digits(data: bytes, n_digits: int) -> np.ndarray:
    """Pack bytes (a multiple of 7) into base-51 digits; the remaining digits are random filler."""
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
        out[len(digits):] = np.frombuffer(os.urandom(n_digits - len(digits)), dtype=np.uint8) % BASE
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
    return hmac.new(key.derive("sealed/keycheck", nonce), b"ric-sealed", hashlib.sha256).digest()[:CHECK_BYTES]


def _aad(header: bytes, h: int, w: int) -> bytes:
    return header + h.to_bytes(4, "big") + w.to_bytes(4, "big")


def seal_stream(key: Key, pixels: np.ndarray, nonce: bytes, lossy_fallback=False) -> tuple[bytes, dict]:
    h, w = pixels.shape[:2]
    cap = capacity_bytes(h, w)
    room = cap - HEADER_BYTES - TAG_BYTES - 4
    if room <= 0:
        raise CapacityError(f"a {w}x{h} image is too small for the sealed scheme")
    codec, data, psnr = compress(pixels, room, lossy_fallback)
    plain = bytes([codec]) + len(data).to_bytes(3, "big") + data
    plain += os.urandom(room + 4 - len(plain))
    header = MAGIC + bytes([VERSION]) + nonce + _keycheck(key, nonce)
    ct = ChaCha20Poly1305(key.derive("sealed/aead", nonce)).encrypt(nonce, plain, _aad(header, h, w))
    stream = header + ct
    assert len(stream) == cap
    return stream, {"codec": codec, "payload_bytes": len(data), "capacity_bytes": room, "lossy_psnr": psnr}


def fine_digits(stream: bytes, shape) -> np.ndarray:
    h, w, c = shape
    return bytes_to_digits(stream, h * w * c).reshape(h, w, c)


def is_sealed(pixels: np.ndarray) -> bool:
    """Cheap test of the pixel header (magic and version), without the key."""
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.size < BLOCK_DIGITS:
        return False
    first = digits_to_bytes(pixels.reshape(-1)[:BLOCK_DIGITS] % BASE, 1)
    return first is not None and first[:2] == MAGIC + bytes([VERSION])


def open_sealed_pixels(key: Key, pixels: np.ndarray) -> np.ndarray:
    """Recover the exact plaintext pixels from a sealed ciphertext's pixels (uint8 H, W, 3)."""
    return decompress(*open_sealed_payload(key, pixels))


def open_sealed_payload(key: Key, pixels: np.ndarray) -> tuple[int, bytes]:
    """(codec, compressed image) sealed in a ciphertext's pixels, authenticated and decrypted; not yet decoded."""
    h, w = pixels.shape[:2]
    cap = capacity_bytes(h, w)
    stream = digits_to_bytes(pixels.reshape(-1) % BASE, cap // BLOCK_BYTES)
    if stream is None and is_sealed(pixels):      # the header block is intact, a later block is not
        raise TamperedPixelsError("the ciphertext's pixels were altered (a payload block is out of range)")
    if stream is None or stream[:2] != MAGIC + bytes([VERSION]):
        raise NotSealedError("not a sealed RIC ciphertext (pixel header missing)")
    nonce = stream[2:2 + NONCE_BYTES]
    header = stream[:HEADER_BYTES]
    if not hmac.compare_digest(header[2 + NONCE_BYTES:], _keycheck(key, nonce)):
        raise WrongKeyError("the key does not match this ciphertext (wrong key, or its pixel header was altered)")
    try:
        plain = ChaCha20Poly1305(key.derive("sealed/aead", nonce)).decrypt(nonce, stream[HEADER_BYTES:],
                                                                             _aad(header, h, w))
    except InvalidTag:
        raise TamperedPixelsError("the ciphertext's pixels were altered (authentication failed)") from None
    n = int.from_bytes(plain[1:4], "big")
    if plain[0] not in _CODEC_FORMAT:
        raise TamperedPixelsError(f"unknown payload codec {plain[0]}")
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
    def __init__(self, classifier: torch.nn.Module, cfg: SealedConfig = SealedConfig(), device="cpu"):
        self.device = torch.device(device)
        self.classifier = classifier.to(self.device).eval()
        self.cfg = cfg

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
        req = [p.requires_grad for p in self.classifier.parameters()]
        for p in self.classifier.parameters():
            p.requires_grad_(False)
        try:
            self._attempts(images, key, lossy_fallback, labels, todo, res)
        finally:
            for p, r in zip(self.classifier.parameters(), req):
                p.requires_grad_(r)
        return res

    def _attempts(self, images, key, lossy_fallback, labels, todo, res) -> None:
        for attempt in range(self.cfg.max_retries + 1):
            fines, inits, keep, infos = [], [], [], []
            for i in todo:
                nonce = secrets.token_bytes(NONCE_BYTES)
                try:
                    stream, info = seal_stream(key, images[i], nonce, lossy_fallback)
                except RICError as e:       # does not fit: final, no retry
                    res.errors[i] = e
                    continue
                fines.append(torch.from_numpy(fine_digits(stream, images[i].shape)).permute(2, 0, 1))
                inits.append(noise_image(key, nonce + bytes(4), (3, *images[i].shape[:2])))
                keep.append(i)
                infos.append(info)
            todo = []
            if not keep:
                break
            fine = torch.stack(fines).to(self.device)
            gen = torch.Generator().manual_seed(int.from_bytes(secrets.token_bytes(8), "big") >> 1)
            with torch.enable_grad():
                lev, _, steps = coarse_attack(self.classifier, fine, labels[keep].to(self.device),
                                       torch.stack(inits).to(self.device), self.cfg, gen)
            c = (BASE * lev.to(torch.int16) + fine.to(torch.int16)).to(torch.uint8)
            got = self._labels(c.float() / 255)   # classify the very ciphertext that would be written
            for j, i in enumerate(keep):
                if got[j] == labels[i]:
                    res.cipher[i] = c[j].permute(1, 2, 0).cpu().numpy()
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
