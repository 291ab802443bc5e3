"""Keyed mixing of the encoder's output u_en (format ric/2): what stops a key-less party from reading x in x'.

The paper's encoder may copy x into u_en (copying helps classification and recovery), so x'_q ≈ 0.8·n_adv + 0.2·x
and a network trained on (ciphertext, plaintext) pairs reads x back (docs/results.md, Security). We therefore
scramble u_en under the key before the SRL blend, and unscramble before D:

    u_p = M_k(P_k(u_en))       P_k: a keyed permutation of the H·W pixel positions (the same for every channel)
                               M_k: u ↦ 1 − u on a keyed half of the values (per channel and pixel)
    x'  = (1 − λ)·u_p + λ·n_adv,   and the decryptor computes   u'' = P_k⁻¹(M_k(u')),   x̃ = D(u'').

Both maps come from ChaCha20 under HKDF(key, nonce) with their own labels, so they change with every image and
are unknown without the key. They are exact and self-inverse up to the permutation, and the 8-bit rounding error
that D was trained on stays i.i.d. and symmetric (only its sign flips where M flips), so a model trained without
mixing decodes just as well (measured: docs/results.md). MIXES names the modes a header may carry.
"""
from __future__ import annotations

import numpy as np
import torch

from .keys import Key
from .noise import keystream

SCRAMBLE = "perm-sign/1"
NONE = "none"
MIXES = (SCRAMBLE, NONE)
CLI_NAMES = {"scramble": SCRAMBLE, "none": NONE}   # the `--mix` choices of `ric encrypt|evaluate|attack`


def keyed_maps(key: Key, nonce: bytes, shape) -> tuple[torch.Tensor, torch.Tensor]:
    """(perm: int64 (H·W,), mask: bool (C, H, W)) for one image: the same (key, nonce, shape) always gives the same."""
    c, h, w = (int(s) for s in shape)
    r = np.frombuffer(keystream(key, nonce, "mix/perm", 8 * h * w), dtype="<u8")
    perm = torch.from_numpy(np.argsort(r, kind="stable").astype(np.int64))
    bits = np.unpackbits(np.frombuffer(keystream(key, nonce, "mix/mask", (c * h * w + 7) // 8), np.uint8))
    mask = torch.from_numpy(bits[:c * h * w].reshape(c, h, w).astype(bool))
    return perm, mask


def batch_maps(key: Key, nonces: list[bytes], shape, device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    perms, masks = zip(*(keyed_maps(key, n, shape) for n in nonces))
    return torch.stack(perms).to(device), torch.stack(masks).to(device)


def scramble(u: torch.Tensor, perm: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """u (N, C, H, W); perm (N, H·W); mask (N, C, H, W). Output pixel j takes input pixel perm[j]; then 1 − v
    where the mask is set."""
    n, c, h, w = u.shape
    idx = perm.unsqueeze(1).expand(n, c, h * w)
    v = u.reshape(n, c, h * w).gather(2, idx).reshape(n, c, h, w)
    return torch.where(mask, 1 - v, v)


def unscramble(v: torch.Tensor, perm: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Exact inverse of scramble for the same maps."""
    n, c, h, w = v.shape
    v = torch.where(mask, 1 - v, v).reshape(n, c, h * w)
    idx = perm.unsqueeze(1).expand(n, c, h * w)
    return torch.empty_like(v).scatter_(2, idx, v).reshape(n, c, h, w)


def check_mix(mix: str) -> str:
    if mix not in MIXES:
        raise ValueError(f"unknown mixing {mix!r} (known: {', '.join(MIXES)})")
    return mix
