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

import os
import platform
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as Fn

from .datasets import load_dataset
from .files.classify import classify_files
from .files.engine import decrypt_files, encrypt_files
from .hub import Loaded
from .io.tensors import to_float
from .keys import Key
from .metrics import lpips, psnr_per_image, ssim
from .schemes.registry import build_scheme, scheme_spec


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
    return to_float([np.asarray(Image.open(p).convert("RGB")) for p in paths])


def _fit_rate(ds) -> float:
    """Share of all test images whose lossless encoding fits a sealed ciphertext of their size."""
    from .schemes.sealed import CapacityError, compress, payload_room
    h, w = ds.x.shape[1:3]
    room = payload_room(h, w)
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
        b = torch.randint(0, BASE, coarse.shape, generator=g).to(coarse.device)   # draws on the CPU: any device
        hits += (classifier((BASE * coarse + b).float() / 255).argmax(1).cpu() == torch.tensor(labels)).sum().item()
    return hits / (draws * len(cipher))


def _write_plaintexts(ds, idx, folder: str) -> list[str]:
    from PIL import Image
    os.makedirs(folder, exist_ok=True)
    paths = []
    for i in idx:
        paths.append(os.path.join(folder, f"{i:05d}.png"))
        Image.fromarray(ds.x[i]).save(paths[-1])
    return paths


def _timed(fn, *a, **kw):
    t = time.perf_counter()
    out = fn(*a, **kw)
    return out, time.perf_counter() - t


def _run_files(sch, key, classifier, plain, tmp, device, batch_size, show_progress) -> dict:
    """Everything through the real file path: encrypt, classify plaintexts and ciphertexts, decrypt, reload."""
    r = {}
    r["enc"], r["t_enc"] = _timed(encrypt_files, sch, key, plain, os.path.join(tmp, "enc"), show_progress=show_progress)
    ciphers = [e.out for e in r["enc"] if e.out]
    r["lab_p"], r["t_cls_p"] = _timed(classify_files, classifier, plain, device, batch_size)
    r["lab_c"], r["t_cls_c"] = _timed(classify_files, classifier, ciphers, device, batch_size)
    r["dec"], r["t_dec"] = _timed(decrypt_files, sch, key, ciphers, os.path.join(tmp, "dec"),
                                  show_progress=show_progress)
    r["ciphers"], r["x"], r["xc"] = ciphers, _load_dir(plain), _load_dir(ciphers)
    r["z"] = _load_dir([d.out for d in r["dec"] if d.out])
    r["steps"] = np.array([e.info.get("steps", -1) for e in r["enc"] if e.out])
    r["file_bytes"] = float(np.mean([os.path.getsize(p) for p in ciphers]))
    return r


def evaluate(model: Loaded | None, classifier: Loaded, data: str, n: int = 500, seed: int = 0, device="cpu",
             batch_size: int = 64, show_progress: bool = True, scheme: str = "paper",
             margin: float | None = None, mix: str | None = None, **options) -> dict:
    """`scheme`: a registered scheme name (ric.schemes.registry), built as `ric encrypt` builds it; `model`: its RIC
    model where it needs one (else ignored). `mix`: the paper scheme's keyed mixing of u_en
    (ric.schemes.paper.mixing; None: its default); `options`: further build_scheme keywords."""
    ds = load_dataset(data, "test")
    idx = np.sort(np.random.default_rng(seed).permutation(len(ds))[:n])
    spec = scheme_spec(scheme)
    if mix is not None:
        options["mix"] = mix
    sch = build_scheme(scheme, classifier, model if spec.needs_model else None, device, margin=margin,
                       batch_size=batch_size, **options)
    with tempfile.TemporaryDirectory() as tmp:
        plain = _write_plaintexts(ds, idx, os.path.join(tmp, "plain"))
        r = _run_files(sch, Key.generate(), classifier, plain, tmp, device, batch_size, show_progress)
    out = _measures(r, ds.y[idx], sch.stats, n=len(idx))
    used = sch.settings()
    head = {"scheme": scheme, "mix": used["mix"], "data": os.path.basename(data), "n": len(idx),
            "n_requested": int(n), "model": used["model"], "classifier": classifier.identity,
            "margin_g1": used["margin_g1"]}
    out = {**head, **out, "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch "
                                     f"{torch.__version__}, {torch.get_num_threads()} threads, device {device}"}
    return out | SCHEME_MEASURES.get(scheme, _no_measures)(sch, r, ds, classifier, device)


def _measures(r: dict, y, stats: dict, n: int) -> dict:
    """ACC_p, ACC_e (over the images that were encrypted: a refused one is counted in `failed`), ADP, fidelity,
    NAE success, timings, leakage."""
    enc, lab_p, lab_c, x, z = r["enc"], r["lab_p"], r["lab_c"], r["x"], r["z"]
    ok = [j for j, e in enumerate(enc) if e.out]
    acc_p = float(np.mean([lab_p[j].label == y[j] for j in ok]))
    acc_e = float(np.mean([c.label == t for c, t in zip(lab_c, y[ok])]))
    agree = float(np.mean([a.label == b.label for a, b in zip([lab_p[j] for j in ok], lab_c)]))
    p = psnr_per_image(z, x[ok])
    exact = float(torch.all((z * 255).round() == (x[ok] * 255).round(), dim=(1, 2, 3)).float().mean())
    leak_fit, leak_const = affine_leakage(x[ok], r["xc"])
    lp, why_no_lpips = lpips(z, x[ok])
    n_c = max(1, len(r["ciphers"]))
    return {
        "ACC_p": acc_p, "ACC_e": acc_e, "ADP_points": 100 * (acc_p - acc_e), "label_agreement": agree,
        "PSNR_dB": p.mean().item(), "PSNR_min_dB": p.min().item(), "SSIM": ssim(z, x[ok]).item(),
        "bit_exact_share": exact,
        "LPIPS": lp if lp is not None else why_no_lpips,
        # share of all n images whose first nonce gave a usable ciphertext (NAE at the margin, label kept)
        "NAE_first_try_success": sum(1 for e in enc if e.out and (e.info or {}).get("attempts") == 1) / max(1, n),
        "nae_retries": stats["nae_retries"], "label_retries": stats["label_retries"],
        "failed": sum(1 for e in enc if e.error),
        "encrypt_s_per_image": r["t_enc"] / n, "decrypt_s_per_image": r["t_dec"] / n_c,
        "classify_plain_s_per_image": r["t_cls_p"] / n, "classify_cipher_s_per_image": r["t_cls_c"] / n_c,
        "ciphertext_file_bytes_mean": r["file_bytes"],
        "leakage_lowpass_affine_PSNR_dB": leak_fit, "leakage_mean_colour_baseline_PSNR_dB": leak_const,
    }


def _no_measures(sch, r: dict, ds, classifier, device) -> dict:
    return {}


def _phi_measures(sch, r: dict, ds, classifier, device) -> dict:
    """The paper scheme's: how many steps Φ took."""
    return {"phi_steps_median": float(np.median(r["steps"])), "phi_steps_max": int(r["steps"].max())}


def _sealed_measures(sch, r: dict, ds, classifier, device) -> dict:
    """The sealed scheme's: how many test images fit losslessly, and the label under random payloads."""
    return {"capacity_fit_rate_full_test_split": _fit_rate(ds),
            "payload_robustness_20_random_payloads": _payload_robustness(
                classifier.module, r["xc"].to(device), [c.label for c in r["lab_c"]]),
            "failed_reasons": sorted({type(e.error).__name__ for e in r["enc"] if e.error})}


# measures that only make sense for one scheme, by its registry name (a scheme without an entry gets the common ones)
SCHEME_MEASURES = {"paper": _phi_measures, "sealed": _sealed_measures}
