"""Base-51 digit streams: bytes <-> the fine digits B of a sealed ciphertext (7-byte blocks -> 10 digits)."""
from __future__ import annotations

import os

import numpy as np

BASE = 51                 # L: fine levels

LEVELS = 5                # coarse levels N ∈ {0..4}

BLOCK_BYTES, BLOCK_DIGITS = 7, 10      # 51**10 > 2**56

_POW = np.array([BASE ** i for i in range(BLOCK_DIGITS)], dtype=np.int64)


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
    v = v.view(">u8").reshape(-1).astype(np.uint64)
    digits = np.empty((len(v), BLOCK_DIGITS), dtype=np.uint8)
    for i in range(BLOCK_DIGITS):        # least significant first; one divmod per digit (6x the broadcast's speed)
        v, digits[:, i] = np.divmod(v, np.uint64(BASE))
    digits = digits.reshape(-1)
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
