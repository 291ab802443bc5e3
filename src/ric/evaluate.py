"""`ric evaluate`: accuracy, recovery fidelity, NAE success, timings and plaintext leakage on a test set.

Everything goes through the real file path (encrypt to PNG, classify the PNG, decrypt from PNG), so the
numbers are what a user gets. Definitions:
  ACC_p / ACC_e  accuracy of C on plaintexts / on ciphertexts against the true labels, over the images that
                 were encrypted (images refused, e.g. too large for the sealed scheme, are counted in `failed`)
  ADP            ACC_p - ACC_e (paper eq. 14), in percentage points
  PSNR, SSIM     recovered vs plaintext (see ric.metrics for the exact definitions)
  NAE success    share of images whose first nonce gave a margin-reaching NAE and a correctly labelled
                 ciphertext (the rest were retried with new nonces; `failed` counts images that never succeeded)
  leakage        PSNR between x and the best per-image, per-channel affine fit of a 5x5 box blur of x'_q,
                 next to the same fit with a constant (the image's own mean colour): how much of x a linear
                 low-pass observer sees. An oracle fit (it uses x), so an upper bound for a linear observer.
  LPIPS          torchmetrics' LPIPS (AlexNet backbone) when torchvision and the cached backbone weights are
                 present; otherwise the output says "unavailable" and why.
"""
from __future__ import annotations

import dataclasses
import os
import platform
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as Fn

from .datasets import load_dataset
from .files.engine import Engine, classify_files
from .hub import Loaded
from .keys import Key
from .metrics import lpips, psnr_per_image, ssim
from .schemes.paper.mixing import DEFAULT


def affine_leakage(x: torch.Tensor, cipher: torch.Tensor, k: int = 5) -> tuple[float, float]:
    """(PSNR of the affine fit of blur(cipher) to x, PSNR of the constant fit), means over images."""
    low = Fn.avg_pool2d(Fn.pad(cipher, (k // 2,) * 4, mode="replicate"), k, stride=1)
    n, c = x.shape[:2]
    a = low.reshape(n * c, -1)
    b = x.reshape(n * c, -1)
    am, bm = a.mean(1, keepdim=True), b.mean(1, keepdim=True)
    cov = ((a - am) * (b - bm)).mean(1, keepdim=True)
    var = ((a - am) ** 2).mean(1, keepdim=True).clamp_min(1e-12)
    fit = (bm + cov / var * (a - am)).reshape_as(x).clamp(0, 1)
    const = bm.expand_as(b).reshape_as(x)
    return psnr_per_image(fit, x).mean().item(), psnr_per_image(const, x).mean().item()


def _load_dir(paths) -> torch.Tensor:
    from PIL import Image
    return torch.from_numpy(np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths])).permute(
        0, 3, 1, 2).float() / 255


def _fit_rate(ds) -> float:
    """Share of all test images whose lossless encoding fits a sealed ciphertext of their size."""
    from .schemes.sealed import HEADER_BYTES, TAG_BYTES, CapacityError, capacity_bytes, compress
    h, w = ds.x.shape[1:3]
    room = capacity_bytes(h, w) - HEADER_BYTES - TAG_BYTES - 4
    fits = 0
    for a in ds.x:
        try:
            compress(a, room)
            fits += 1
        except CapacityError:
            pass
    return fits / len(ds)


@torch.no_grad()
def _payload_robustness(classifier, cipher: torch.Tensor, labels, draws: int = 20, seed: int = 0) -> float:
    """Sealed: share of (image, random payload) pairs with C((51·N + B')/255) = ŷ, B' uniform random digits."""
    from .schemes.sealed import BASE
    g = torch.Generator().manual_seed(seed)
    coarse = torch.round(cipher * 255).long() // BASE
    hits = 0
    for _ in range(draws):
        b = torch.randint(0, BASE, coarse.shape, generator=g)
        hits += (classifier((BASE * coarse + b).float() / 255).argmax(1).cpu() == torch.tensor(labels)).sum().item()
    return hits / (draws * len(cipher))


def evaluate(model: Loaded | None, classifier: Loaded, data: str, n: int = 500, seed: int = 0, device="cpu",
             batch_size: int = 64, show_progress: bool = True, scheme: str = "paper",
             margin: float | None = None, mix: str | None = None) -> dict:
    """`mix`: the paper scheme's keyed mixing of u_en (ric.schemes.paper.mixing; default the keyed scramble)."""
    from PIL import Image

    from .files.engine import model_phi, sealed_config, sealed_decrypt_files, sealed_encrypt_files
    from .io.container import sniff
    ds = load_dataset(data, "test")
    idx = np.sort(np.random.default_rng(seed).permutation(len(ds))[:n])
    n_requested, n = n, len(idx)   # the test split may hold fewer than asked: shares and timings are per image used
    key = Key.generate()
    stats = {"nae_retries": 0, "label_retries": 0}
    with tempfile.TemporaryDirectory() as tmp:
        plain = []
        for i in idx:
            p = os.path.join(tmp, "plain", f"{i:05d}.png")
            os.makedirs(os.path.dirname(p), exist_ok=True)
            Image.fromarray(ds.x[i]).save(p)
            plain.append(p)
        t = time.perf_counter()
        if scheme == "paper":
            phi = model_phi(model)
            if margin is not None:
                phi = dataclasses.replace(phi, margin=margin)
            eng = Engine(model, classifier, device, phi, batch_size=batch_size, show_progress=show_progress,
                         mix=mix or DEFAULT)
            enc = eng.encrypt_files(key, plain, os.path.join(tmp, "enc"))
            stats = eng.codec_stats
        else:
            enc, st = sealed_encrypt_files(classifier, key, plain, os.path.join(tmp, "enc"), device=device,
                                           batch_size=batch_size, show_progress=show_progress, margin=margin)
            stats = {"nae_retries": 0, "label_retries": st["retries"]}
        t_enc = time.perf_counter() - t
        errs = [r for r in enc if r.error]
        ciphers = [r.out for r in enc if r.out]
        t = time.perf_counter()
        lab_p = classify_files(classifier, plain, device, batch_size)
        t_cls_p = time.perf_counter() - t
        t = time.perf_counter()
        lab_c = classify_files(classifier, ciphers, device, batch_size)
        t_cls_c = time.perf_counter() - t
        t = time.perf_counter()
        if scheme == "paper":
            dec = eng.decrypt_files(key, ciphers, os.path.join(tmp, "dec"))
        else:
            dec = sealed_decrypt_files(key, {p: sniff(p)[1] for p in ciphers}, os.path.join(tmp, "dec"))
        t_dec = time.perf_counter() - t
        x = _load_dir(plain)
        ok = [j for j, r in enumerate(enc) if r.out]
        xc = _load_dir(ciphers)
        z = _load_dir([r.out for r in dec if r.out])
        steps = np.array([r.info.get("steps", -1) for r in enc if r.out])
        file_bytes = float(np.mean([os.path.getsize(p) for p in ciphers]))
    y = ds.y[idx]
    # ACC_p and ACC_e over the same images: those that were encrypted (a refused image is counted in `failed`)
    acc_p = float(np.mean([lab_p[j].label == y[j] for j in ok]))
    acc_e = float(np.mean([r.label == t for r, t in zip(lab_c, y[ok])]))
    agree = float(np.mean([a.label == b.label for a, b in zip([lab_p[j] for j in ok], lab_c)]))
    p = psnr_per_image(z, x[ok])
    exact = float(torch.all((z * 255).round() == (x[ok] * 255).round(), dim=(1, 2, 3)).float().mean())
    leak_fit, leak_const = affine_leakage(x[ok], xc)
    lp, why_no_lpips = lpips(z, x[ok])
    out = {
        "scheme": scheme, "mix": (mix or DEFAULT) if scheme == "paper" else None,
        "data": os.path.basename(data), "n": n, "n_requested": int(n_requested),
        "model": model.identity if (model is not None and scheme == "paper") else None,
        "classifier": classifier.identity,
        "margin_g1": margin if margin is not None else (model_phi(model).margin if scheme == "paper"
                                                        else sealed_config(classifier).margin),
        "ACC_p": acc_p, "ACC_e": acc_e, "ADP_points": 100 * (acc_p - acc_e), "label_agreement": agree,
        "PSNR_dB": p.mean().item(), "PSNR_min_dB": p.min().item(), "SSIM": ssim(z, x[ok]).item(),
        "bit_exact_share": exact,
        "LPIPS": lp if lp is not None else why_no_lpips,
        # share of all n images whose first nonce gave a usable ciphertext (NAE at the margin, label kept)
        "NAE_first_try_success": sum(1 for r in enc if r.out and (r.info or {}).get("attempts") == 1) / max(1, n),
        "nae_retries": stats["nae_retries"], "label_retries": stats["label_retries"],
        "failed": len(errs),
        "encrypt_s_per_image": t_enc / n, "decrypt_s_per_image": t_dec / max(1, len(ciphers)),
        "classify_plain_s_per_image": t_cls_p / n, "classify_cipher_s_per_image": t_cls_c / max(1, len(ciphers)),
        "ciphertext_file_bytes_mean": file_bytes,
        "leakage_lowpass_affine_PSNR_dB": leak_fit, "leakage_mean_colour_baseline_PSNR_dB": leak_const,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch "
                   f"{torch.__version__}, {torch.get_num_threads()} threads, device {device}",
    }
    if scheme == "paper":
        out["phi_steps_median"] = float(np.median(steps))
        out["phi_steps_max"] = int(steps.max())
    else:
        out["capacity_fit_rate_full_test_split"] = _fit_rate(ds)
        out["payload_robustness_20_random_payloads"] = _payload_robustness(
            classifier.module, xc.to(device), [lab_c[j].label for j in range(len(ciphers))])
        out["failed_reasons"] = sorted({type(r.error).__name__ for r in errs})
    return out
