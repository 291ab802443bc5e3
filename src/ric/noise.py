"""The keyed random image n = PRNG(k, U) of the paper (eq. 1), done properly: HKDF(key, nonce) -> ChaCha20.

Values are 16-bit uniform levels mapped to the open interval (0, 1), so the tanh re-parametrisation of
the NAE attack is finite everywhere. The same (key, nonce, shape) always gives the same image, on any
platform (pure integer cryptography, no torch RNG).
"""
from __future__ import annotations

import numpy as np
import torch
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

from .keys import Key


def keystream(key: Key, nonce: bytes, label: str, nbytes: int) -> bytes:
    sub = key.derive(label, nonce)
    enc = Cipher(algorithms.ChaCha20(sub, b"\x00" * 16), mode=None).encryptor()
    return enc.update(b"\x00" * nbytes)


def noise_image(key: Key, nonce: bytes, shape: tuple[int, int, int]) -> torch.Tensor:
    """Uniform noise image (C, H, W), float32 in (0, 1), from the key and this image's nonce."""
    count = int(np.prod(shape))
    u16 = np.frombuffer(keystream(key, nonce, "noise", 2 * count), dtype="<u2").astype(np.float32)
    return torch.from_numpy(((u16 + 0.5) / 65536.0).reshape(shape))
