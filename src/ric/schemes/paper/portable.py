"""The portable paper format (ric/4): what makes decryption independent of the machine's float rounding.

A paper-scheme decryption computes D(unmix((c − λ·n_adv)/(1 − λ))) in floating point and rounds it to 8 bits.
Regenerating n_adv by re-running Φ (formats ric/1–ric/3) needs the encryptor's exact float bits, which other ATen
kernels (another CPU, a GPU) do not give. Format ric/4 stores, sealed under the key, everything that depends on
float rounding, compactly:

* **n_adv on a grid.** Encryption snaps Φ's result to ñ = clamp(n0 + q/S, 0, 1), where n0 is Φ's start (the keyed
  ChaCha20 noise, blended with the class starts: elementwise arithmetic that any machine reproduces to within an
  ulp) and q = round((n_adv − n0)·S) are small integers; the ciphertext is made from ñ, so ñ is exactly what
  decryption needs. Only q is stored: zero wherever Φ changed nothing (all of it for an image that starts past the
  margin), compressed. Φ's moves are small and spread over every value (measured on the shipped cifar10 pair: 7
  steps median, margin kept at S = 8 for every image), so per image (`compact`) the first of CANDIDATES — a grid
  S = 2**bits and the share of the values Φ moved most that keep their q, the rest 0 — on which Φ's margin stays at
  least KEEP_MARGIN of its target is used, else S = 2**GRID_BITS with every value: a few bits per moved value
  instead of eleven. The label check on the final ciphertext still decides success.
* **Ties.** D's output differs between kernel sets by a few 1e-5 of a level (measured: 3.0e-5 at most on CIFAR-10,
  1.5e-5 on CelebA-64, AVX-512 against ATen's baseline kernels). Where the encryptor's output t = 255·clamp(y) lies
  within TIE of a rounding boundary k + ½, the encryptor's rounding (up or down) is stored; everywhere else every
  machine whose D agrees to within TIE rounds alike. About 0.8% of the subpixels are ties.
* **A digest** of the encryptor's 8-bit output, keyed (the header's `fingerprint`): a decryptor whose D differs by
  more than TIE refuses (RegenerationError, naming the encryptor's platform) instead of writing other pixels.

Stored body (then AEAD-sealed by header.encrypt_nadv): [version 1 | grid bits | 4-byte length of A | A | B], where
A = zlib of q as int8 when the grid has at most 2**6 steps (|q| ≤ 64), else as little-endian int16, and B = zlib of
[varint count | varint gaps between tie positions (flat, ascending) | the rounding-up bits, packed].
"""
from __future__ import annotations

import contextlib
import hashlib
import hmac
import struct
import zlib

import numpy as np
import torch

from ...keys import Key

VERSION = 1
GRID_BITS = 8                # the finest grid, S = 256: ñ within 1/512 of Φ's result
# (grid bits, share of the values kept) tried in turn, roughly smallest body first (measured on CelebA-64 faces that
# Φ moved: a quarter of the values at a grid of 1/4 kept the margin for half of them, all values at 1/8 for all)
CANDIDATES = ((2, .25), (3, .25), (2, .5), (3, .5), (2, 1.0), (3, 1.0), (4, 1.0), (5, 1.0), (6, 1.0))
KEEP_MARGIN = 0.9            # a candidate is used when Φ's margin on it is at least this share of Φ's target margin
TIE = 2.0 ** -8              # of a level: 130× the largest difference between kernel sets measured
DIGEST_BYTES = 8


def snap(n0: torch.Tensor, n_adv: torch.Tensor, grid_bits: int = GRID_BITS) -> tuple[torch.Tensor, torch.Tensor]:
    """(q, ñ): Φ's result on the grid around its start n0 (ñ = on_grid(n0, q))."""
    q = torch.round((n_adv - n0) * float(1 << grid_bits)).to(torch.int16)
    return q, on_grid(n0, q, grid_bits)


def sparse_snap(n0: torch.Tensor, n_adv: torch.Tensor, grid_bits: int, keep: float):
    """(q, ñ) as snap gives them, with q kept only at the `keep` share of each image's values that Φ moved most
    (the rest 0: ñ = n0 there)."""
    q, snapped = snap(n0, n_adv, grid_bits)
    if keep >= 1:
        return q, snapped
    moved = (n_adv - n0).abs().flatten(1)
    k = max(1, int(keep * moved.shape[1]))
    least = moved.kthvalue(moved.shape[1] - k + 1, dim=1).values[:, None]
    q = torch.where((moved >= least).view_as(q), q, torch.zeros_like(q))
    return q, on_grid(n0, q, grid_bits)


def compact(n0: torch.Tensor, n_adv: torch.Tensor, margin_of_view, target: float) -> tuple[torch.Tensor, torch.Tensor,
                                                                                      list[int]]:
    """(q, ñ, grid bits per image) for Φ's results `n_adv` (N, C, H, W) from starts `n0`: per image the first of
    CANDIDATES (smallest first) whose ñ keeps `margin_of_view(ñ, idx)` (Φ's margin of images idx) at least
    KEEP_MARGIN · `target`, else the finest grid with every value. Images that Φ did not move (q = 0 on the finest
    grid) keep the finest grid, as any would do."""
    q, snapped = snap(n0, n_adv, GRID_BITS)
    bits = [GRID_BITS] * len(n0)
    todo = [i for i in range(len(n0)) if bool(q[i].any())]
    for b, keep in CANDIDATES:
        if not todo:
            break
        idx = torch.tensor(todo, device=n0.device)
        qb, sb = sparse_snap(n0[idx], n_adv[idx], b, keep)
        ok = (margin_of_view(sb, idx) >= KEEP_MARGIN * target).tolist()
        for j, i in enumerate(todo):
            if ok[j]:
                q[i], snapped[i], bits[i] = qb[j], sb[j], b
        todo = [i for j, i in enumerate(todo) if not ok[j]]
    return q, snapped, bits


def on_grid(n0: torch.Tensor, q: torch.Tensor, grid_bits: int = GRID_BITS) -> torch.Tensor:
    """ñ = clamp(n0 + q/S, 0, 1): what the ciphertext was made from, rebuilt from the start and the stored q."""
    return (n0 + q.to(n0.device, n0.dtype) / float(1 << grid_bits)).clamp(0, 1)


def levels(y: torch.Tensor) -> torch.Tensor:
    """D's output (N, C, H, W) on the 0..255 scale, clamped: float64 on the CPU (so the tie test is exact)."""
    return y.detach().to("cpu", torch.float64).clamp(0, 1) * 255


def find_ties(t: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(flat positions, rounded-up flags) of one image's levels t (C, H, W) that lie within TIE of k + ½."""
    frac = (t - torch.floor(t)).flatten()
    pos = torch.nonzero((frac - 0.5).abs() < TIE).flatten()
    up = torch.round(t.flatten()[pos]) > torch.floor(t.flatten()[pos])
    return pos.numpy().astype(np.int64), up.numpy()


def round_levels(t: torch.Tensor, pos: np.ndarray, up: np.ndarray) -> np.ndarray:
    """uint8 (H, W, C) of one image's levels t (C, H, W), the stored ties rounded as the encryptor rounded them."""
    flat = torch.round(t).flatten()
    if len(pos):
        p = torch.from_numpy(pos)
        flat[p] = torch.floor(t.flatten()[p]) + torch.from_numpy(up.astype(np.float64))
    return flat.reshape(t.shape).to(torch.uint8).permute(1, 2, 0).contiguous().numpy()


def digest(key: Key, nonce: bytes, pixels: np.ndarray) -> bytes:
    """Keyed digest of the encryptor's recovered 8-bit image (no oracle for a key-less party)."""
    mac = hmac.new(key.derive("recovered", nonce), digestmod=hashlib.sha256)
    mac.update(struct.pack(">II", *pixels.shape[:2]))
    mac.update(np.ascontiguousarray(pixels, dtype=np.uint8).tobytes())
    return mac.digest()[:DIGEST_BYTES]


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated tie list")
        b = buf[pos]
        n |= (b & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if not b & 0x80:
            return n, pos


def _inflate(data: bytes, limit: int) -> bytes:
    """A whole zlib stream of at most `limit` bytes, and nothing after it; ValueError otherwise."""
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error as e:
        raise ValueError(f"corrupt portable n_adv body ({e})") from None
    if not d.eof or d.unused_data or len(out) > limit:
        raise ValueError("portable n_adv body truncated or followed by other bytes")
    return out


def _q_dtype(grid_bits: int) -> str:
    """q's stored type: one byte while |q| ≤ 2**grid_bits fits in it."""
    return "i1" if grid_bits <= 6 else "<i2"


# zlib level of q: on a 960×640 photo's q (1.8 MB), level 9 took 0.82 s for 283 KB and level 6 0.088 s for 302 KB
Q_LEVEL = 6


def pack(q: torch.Tensor, pos: np.ndarray, up: np.ndarray, grid_bits: int = GRID_BITS) -> bytes:
    """The stored body for one image (see the module docstring)."""
    a = zlib.compress(q.detach().cpu().numpy().astype(_q_dtype(grid_bits)).tobytes(), Q_LEVEL)
    gaps = np.diff(pos, prepend=-1) - 1
    ties = _varint(len(pos)) + b"".join(_varint(int(g)) for g in gaps) + np.packbits(up.astype(np.uint8)).tobytes()
    return struct.pack(">BBI", VERSION, grid_bits, len(a)) + a + zlib.compress(ties, 9)


def unpack(blob: bytes, shape) -> tuple[torch.Tensor, np.ndarray, np.ndarray, int]:
    """(q, tie positions, rounded-up flags, grid bits) of a stored body for an image of `shape` (C, H, W); ValueError
    when it is not one."""
    if len(blob) < 6:
        raise ValueError("portable n_adv body too short")
    version, grid_bits, alen = struct.unpack(">BBI", blob[:6])
    if version != VERSION or not 0 < grid_bits <= 14:
        raise ValueError(f"portable n_adv body version {version}, grid {grid_bits} not readable here")
    count = int(np.prod(shape))
    size = np.dtype(_q_dtype(grid_bits)).itemsize
    raw = _inflate(blob[6:6 + alen], size * count)
    if len(raw) != size * count:
        raise ValueError(f"portable n_adv holds {len(raw) // size} values, expected {count}")
    q = torch.from_numpy(np.frombuffer(raw, _q_dtype(grid_bits)).astype(np.int16).reshape(shape))
    ties = _inflate(blob[6 + alen:], 12 * count + 16)
    n, p = _read_varint(ties, 0)
    if n > count:
        raise ValueError("more ties than values")
    pos = np.empty(n, np.int64)
    last = -1
    for i in range(n):
        g, p = _read_varint(ties, p)
        last = last + 1 + g
        pos[i] = last
    if n and pos[-1] >= count:
        raise ValueError("a tie position outside the image")
    bits = ties[p:]
    if len(bits) != (n + 7) // 8:
        raise ValueError("tie flags of the wrong length")
    up = np.unpackbits(np.frombuffer(bits, np.uint8))[:n].astype(bool)
    return q, pos, up, grid_bits


@contextlib.contextmanager
def full_float32(device):
    """No TF32 on CUDA while D runs for a portable ciphertext (its rounding error is ~1e-3: far beyond TIE)."""
    if torch.device(device).type != "cuda":
        yield
        return
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def platform() -> dict:
    """What ran the encryption, recorded in new paper ciphertexts (named when another machine cannot decrypt)."""
    return {"torch": torch.__version__, "cpu": torch.backends.cpu.get_cpu_capability()}
