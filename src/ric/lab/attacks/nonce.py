"""Nonce hygiene (DESIGN §1): what a reused (key, nonce) leaks, and a check that the library never reuses one.

With the same key, nonce and target label, two images get the same n_adv, so
    x'_1 - x'_2 = (1 - λ)(u_en,1 - u_en,2)     (before 8-bit rounding)
cancels the NAE entirely: the difference image is a picture of E's output difference (≈ x1 - x2 for an
encoder that copies x), and whoever knows one plaintext reads the other as x̂_1 = x_2 + (x'_1 - x'_2)/(1 - λ).
The control pairs get fresh nonces, as the library does.
"""
from __future__ import annotations

import torch

from ...keys import Key, new_nonce, seeded_nonces
from ...metrics import psnr_per_image
from ...nae import generate_nae
from ...schemes.paper.codec import RICCodec
from ...schemes.paper.mixing import DEFAULT
from .common import encrypt, ssim_per_image, victim_scheme


def _corr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    a = a.flatten(1) - a.flatten(1).mean(1, keepdim=True)
    b = b.flatten(1) - b.flatten(1).mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(1e-12)


def same_label_pairs(labels: list[int], n_pairs: int) -> list[tuple[int, int]]:
    by = {}
    for i, y in enumerate(labels):
        by.setdefault(y, []).append(i)
    pairs = []
    for idx in by.values():
        pairs += [(idx[k], idx[k + 1]) for k in range(0, len(idx) - 1, 2)]
    return pairs[:n_pairs]


def encrypt_with_nonces(codec: RICCodec, key: Key, x: torch.Tensor, nonces: list[bytes], labels: list[int]
                        ) -> torch.Tensor:
    """Ciphertexts (float, 8-bit levels) of x with GIVEN nonces: what a buggy caller reusing nonces would get (with
    the codec's mixing of u_en, its Φ settings and its class starts; Φ's exact result, not snapped to ric/4's grid)."""
    y = torch.tensor(labels, device=x.device)
    n_adv = generate_nae(codec.classifier, codec.start_noise(key, nonces, y, tuple(x.shape[1:]), codec.phi), y,
                         codec.phi).n_adv
    with torch.no_grad():
        return codec._encode(x, n_adv, key, nonces)


def nonce_reuse(model, classifier, x: torch.Tensor, n_pairs: int, device="cpu", show: bool = True,
                mix: str = DEFAULT, seed: int | None = None) -> tuple:
    """The paper scheme as `ric encrypt` builds it (common.victim_scheme). `seed`: every nonce (the pairs' and the
    library's) derived from it, reproducible; None: fresh random ones."""
    scheme = victim_scheme("paper", model, classifier, device, mix=mix, seed=seed)
    codec = scheme.codec
    fresh = new_nonce if seed is None else seeded_nonces(seed + 1)
    c = codec.classifier
    x = x.to(device)
    with torch.no_grad():
        labels = c(x).argmax(1).cpu().tolist()
    pairs = same_label_pairs(labels, n_pairs)
    if not pairs:
        raise ValueError("no two images share a label; pass a larger --n")
    i1, i2 = [p[0] for p in pairs], [p[1] for p in pairs]
    x1, x2 = x[i1], x[i2]
    y = [labels[i] for i in i1]
    key = Key.generate()
    lam = codec.lam
    out = {}
    for mode in ("shared nonce", "fresh nonces"):
        n1 = [fresh() for _ in pairs]
        n2 = n1 if mode == "shared nonce" else [fresh() for _ in pairs]
        c1 = encrypt_with_nonces(codec, key, x1, n1, y)
        c2 = encrypt_with_nonces(codec, key, x2, n2, y)
        d = c1 - c2
        est = (x2 + d / (1 - lam)).clamp(0, 1)
        out[mode] = {"corr(x'1-x'2, x1-x2)": _corr(d, x1 - x2).mean().item(),
                     "PSNR(x2 + (x'1-x'2)/(1-λ), x1) dB": psnr_per_image(est, x1).mean().item(),
                     "SSIM(x2 + (x'1-x'2)/(1-λ), x1)": ssim_per_image(est.cpu(), x1.cpu()).mean().item(),
                     "_d": d.cpu(), "_est": est.cpu()}
    # the library: nonces of many encryptions, including the same image twice and a retry-prone batch
    enc_a = encrypt(scheme, x.cpu(), key, 64, "library encrypt", show)
    enc_b = encrypt(scheme, x.cpu(), key, 64, "library encrypt again", show)
    all_n = enc_a["nonces"] + enc_b["nonces"]
    res = {"attack": "nonce-reuse", "pairs": len(pairs), "pairs_note": "same-label pairs (equal n_adv when the "
           "nonce is shared)", "lam": lam,
           **{f"{mode}: {k}": v for mode, d in out.items() for k, v in d.items() if not k.startswith("_")},
           "library_nonces_checked": len(all_n), "library_distinct_nonces": len(set(all_n)),
           "library_same_image_twice_distinct": all(a != b for a, b in zip(enc_a["nonces"], enc_b["nonces"]))}
    arrays = {"x1": x1.cpu(), "x2": x2.cpu(), "shared nonce: 5·(x'1-x'2)+0.5": (out["shared nonce"]["_d"] /
              (1 - lam) + 0.5), "fresh nonces: 5·(x'1-x'2)+0.5": out["fresh nonces"]["_d"] / (1 - lam) + 0.5,
              "shared: x2+5·diff": out["shared nonce"]["_est"]}
    return res, arrays


def nonces_distinct(nonces: list[bytes]) -> bool:
    return len(set(nonces)) == len(nonces) and all(isinstance(n, bytes) and len(n) == 16 for n in nonces)


__all__ = ["nonce_reuse", "encrypt_with_nonces", "same_label_pairs", "nonces_distinct"]
