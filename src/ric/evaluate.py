"""`ric evaluate`: accuracy, recovery fidelity, NAE success, timings and plaintext leakage on a test set.

Everything goes through the real file path (encrypt to PNG, classify the PNG, decrypt from PNG), so the
numbers are what a user gets. Definitions:
  ACC_p / ACC_e  accuracy of C on plaintexts / on ciphertexts against the true labels
  ADP            ACC_p - ACC_e (paper eq. 14), in percentage points
  PSNR, SSIM     recovered vs plaintext (see ric.metrics for the exact definitions)
  NAE success    share of images whose first nonce gave a margin-reaching NAE and a correctly labelled
                 ciphertext (the rest were retried with new nonces; `failed` counts images that never succeeded)
  leakage        PSNR between x and the best per-image, per-channel affine fit of a 5x5 box blur of x'_q,
                 next to the same fit with a constant (the image's own mean colour): how much of x a linear
                 low-pass observer sees. An oracle fit (it uses x), so an upper bound for a linear observer.
LPIPS is not computed here: its backbone weights cannot be downloaded offline; the output says so.
"""
from __future__ import annotations

import os
import platform
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as Fn

from .data import load_npz
from .engine import Engine, classify_files
from .hub import Loaded
from .keys import Key
from .metrics import psnr_per_image, ssim


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


def evaluate(model: Loaded, classifier: Loaded, data: str, n: int = 500, seed: int = 0, device="cpu",
             batch_size: int = 64, show_progress: bool = True) -> dict:
    from PIL import Image
    ds = load_npz(data, "test")
    idx = np.sort(np.random.default_rng(seed).permutation(len(ds))[:n])
    key = Key.generate()
    eng = Engine(model, classifier, device, batch_size=batch_size, show_progress=show_progress)
    with tempfile.TemporaryDirectory() as tmp:
        plain = []
        for i in idx:
            p = os.path.join(tmp, "plain", f"{i:05d}.png")
            os.makedirs(os.path.dirname(p), exist_ok=True)
            Image.fromarray(ds.x[i]).save(p)
            plain.append(p)
        t = time.perf_counter()
        enc = eng.encrypt_files(key, plain, os.path.join(tmp, "enc"))
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
        dec = eng.decrypt_files(key, ciphers, os.path.join(tmp, "dec"))
        t_dec = time.perf_counter() - t
        x = _load_dir(plain)
        ok = [j for j, r in enumerate(enc) if r.out]
        xc = _load_dir(ciphers)
        z = _load_dir([r.out for r in dec if r.out])
        steps = np.array([r.info.get("steps", -1) for r in enc if r.out])
    y = ds.y[idx]
    acc_p = float(np.mean([r.label == t for r, t in zip(lab_p, y)]))
    acc_e = float(np.mean([r.label == t for r, t in zip(lab_c, y[ok])]))
    agree = float(np.mean([a.label == b.label for a, b in zip([lab_p[j] for j in ok], lab_c)]))
    p = psnr_per_image(z, x[ok])
    leak_fit, leak_const = affine_leakage(x[ok], xc)
    return {
        "data": os.path.basename(data), "n": int(n), "model": model.identity, "classifier": classifier.identity,
        "ACC_p": acc_p, "ACC_e": acc_e, "ADP_points": 100 * (acc_p - acc_e), "label_agreement": agree,
        "PSNR_dB": p.mean().item(), "PSNR_min_dB": p.min().item(), "SSIM": ssim(z, x[ok]).item(),
        "LPIPS": "unavailable: LPIPS needs pretrained AlexNet/VGG backbone weights, which cannot be downloaded here",
        "NAE_first_try_success": 1 - (eng.codec_stats["nae_retries"] + eng.codec_stats["label_retries"]) / max(1, n),
        "nae_retries": eng.codec_stats["nae_retries"], "label_retries": eng.codec_stats["label_retries"],
        "failed": len(errs), "phi_steps_median": float(np.median(steps)), "phi_steps_max": int(steps.max()),
        "encrypt_s_per_image": t_enc / n, "decrypt_s_per_image": t_dec / max(1, len(ciphers)),
        "classify_plain_s_per_image": t_cls_p / n, "classify_cipher_s_per_image": t_cls_c / max(1, len(ciphers)),
        "leakage_lowpass_affine_PSNR_dB": leak_fit, "leakage_mean_colour_baseline_PSNR_dB": leak_const,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch "
                   f"{torch.__version__}, {torch.get_num_threads()} threads, device {device}",
    }
