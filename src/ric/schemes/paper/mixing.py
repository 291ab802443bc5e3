"""Keyed mixing of the encoder's output u_en: what stops a key-less party from reading x in x'.

Format ric/3 (MASK, the default) hides everything but the label; format ric/2 (SCRAMBLE) hides pixel positions
only and is kept so that old ciphertexts decrypt and for comparison; NONE is the paper's exact scheme.

ric/3, the uniform mask (MASK):

    v   = δ + (1 − 2δ)·clip(u_en, 0, 1)          compressed into [δ, 1 − δ], δ = 3/255
    u_p = P_k((v + r) mod 1)                     r: a keyed uniform image from ChaCha20 under HKDF(key, nonce);
                                                 P_k: ric/2's keyed permutation of pixel positions (nonce misuse)
    x'  = (1 − λ)·u_p + λ·n_adv,   and the decryptor computes   v' = (P_k⁻¹(u') − r) mod 1,   x̃ = D((v' − δ)/(1 − 2δ)).

u_p is uniform on [0, 1) whatever u_en is (r is uniform and independent of it), so given n_adv — which depends
only on the key, the nonce, the label and the classifier — the ciphertext's distribution does not depend on x.
No wrap-around can happen at decryption: 8-bit rounding moves u' by at most 0.5 / (255·(1 − λ)) = 2.5/255 at
λ = 0.8, less than δ, so v + error stays inside (0, 1) and the modulo gives it back exactly (MAX_ROUNDING_ERROR;
tests/schemes/paper/test_mixing.py checks every pixel of many images). The sealed scheme is the same
construction with an AEAD byte payload instead of the masked u_en (ric.schemes.sealed).

ric/2, the keyed scramble (SCRAMBLE). It does NOT hide per-image value statistics (contrast, histogram): P and M
keep the multiset of |u_en − 0.5| per channel, and `ric attack linkage` tells same-label images apart from it
(docs/results.md, Security).

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

from ...keys import Key
from ...noise import keystream

MASK = "uniform-mask/1"     # the default (ric.formats: ric/4, and ric/3 before it)
SCRAMBLE = "perm-sign/1"    # leaks per-image statistics (ric/4, and ric/2 before it)
NONE = "none"               # the paper's exact scheme (ric/4; ric/2 or ric/1 before it)
DEFAULT = MASK
MIXES = (MASK, SCRAMBLE, NONE)
CLI_NAMES = {"mask": MASK, "scramble": SCRAMBLE, "none": NONE}   # the `--mix` choices of `ric encrypt|evaluate|attack`
MASK_DELTA = 3 / 255        # δ: margin of the compressed u_en in [δ, 1 − δ]
MASK_BITS = 24              # r = k / 2**24 with k uniform: exact in float32


def keyed_maps(key: Key, nonce: bytes, shape) -> tuple[torch.Tensor, torch.Tensor]:
    """(perm: int64 (H·W,), mask: bool (C, H, W)) for one image: the same (key, nonce, shape) always gives the same."""
    c, h, w = (int(s) for s in shape)
    r = np.frombuffer(keystream(key, nonce, "mix/perm", 8 * h * w), dtype="<u8")
    perm = stable_order(r)
    bits = np.unpackbits(np.frombuffer(keystream(key, nonce, "mix/mask", (c * h * w + 7) // 8), np.uint8))
    mask = torch.from_numpy(bits[:c * h * w].reshape(c, h, w).astype(bool))
    return perm, mask


def stable_order(r: np.ndarray) -> torch.Tensor:
    """int64 indices that sort the unsigned 64-bit values `r` stably: numpy's argsort(kind="stable"), computed by
    torch's stable sort on the values with their top bit flipped (an order-preserving map onto int64), which took
    0.73 s against numpy's 1.71 s for a 12 MP image's 12.2 million keys."""
    flipped = (r ^ np.uint64(1 << 63)).view(np.int64)
    return torch.argsort(torch.from_numpy(flipped), stable=True)


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


def max_rounding_error(lam: float) -> float:
    """The largest |u' − u_p| that 8-bit rounding of the blend can cause: 0.5 / (255·(1 − λ))."""
    return 0.5 / (255 * (1 - lam))


def check_mask_margin(lam: float) -> None:
    """ric/3 needs δ above the rounding error, or the modulo at decryption could wrap a value around."""
    if max_rounding_error(lam) >= MASK_DELTA:
        raise ValueError(f"the uniform mask needs λ with 0.5/(255(1-λ)) < {MASK_DELTA:.4f}; λ = {lam} is too large")


def keyed_uniform(key: Key, nonce: bytes, shape) -> torch.Tensor:
    """r: float32 (C, H, W) uniform on [0, 1) on a 2**-24 grid, from ChaCha20 under HKDF(key, nonce, "mix/uniform")."""
    count = int(np.prod([int(s) for s in shape]))
    raw = np.frombuffer(keystream(key, nonce, "mix/uniform", 4 * count), dtype="<u4") >> (32 - MASK_BITS)
    return torch.from_numpy((raw.astype(np.float32) / np.float32(1 << MASK_BITS)).reshape(tuple(shape)))


def batch_uniform(key: Key, nonces: list[bytes], shape, device="cpu") -> torch.Tensor:
    return torch.stack([keyed_uniform(key, n, shape) for n in nonces]).to(device)


def mask(u: torch.Tensor, r: torch.Tensor, perm: torch.Tensor | None = None) -> torch.Tensor:
    """u_en -> u_p = P((δ + (1 − 2δ)·clip(u, 0, 1) + r) mod 1), uniform on [0, 1) whatever u is. `perm` (N, H·W),
    optional: the keyed permutation P of the pixel positions (keyed_maps). It adds nothing while nonces are unique,
    but if one were ever reused, r would cancel in the difference of two ciphertexts (a two-time pad) and leave
    x1 − x2 in place; with P the difference is scattered over the image as under ric/2."""
    v = torch.remainder(MASK_DELTA + (1 - 2 * MASK_DELTA) * u.clamp(0, 1) + r, 1.0)
    return v if perm is None else scramble(v, perm, torch.zeros_like(v, dtype=torch.bool))


def unmask(u: torch.Tensor, r: torch.Tensor, perm: torch.Tensor | None = None) -> torch.Tensor:
    """u' (u_p plus rounding error below δ) -> the compressed value undone: ≈ clip(u_en, 0, 1) plus the error
    scaled by 1/(1 − 2δ). Exact inverse of mask (with the same `perm`) up to that error."""
    if perm is not None:
        u = unscramble(u, perm, torch.zeros_like(u, dtype=torch.bool))
    v = torch.remainder(u - r, 1.0)
    return (v - MASK_DELTA) / (1 - 2 * MASK_DELTA)
