"""Brute-force attack (paper §6.1, Fig. 8): decrypt N ciphertexts with M random wrong keys.

Two measurements per (image, wrong key):
  1. the real decryption path (the container's key check, as `ric decrypt` runs it): is the attempt rejected?
  2. a decryption that bypasses the key check (an attacker with its own copy of the code): regenerate n_adv
     from the wrong key, the public nonce and the label the cloud sees (argmax C(x'_q), since the sealed label
     needs the key), then x̃' = D((x'_q - λ n'_adv)/(1-λ)). PSNR/SSIM of x̃' against the plaintext and
     against the correct-key recovery.
"""
from __future__ import annotations

import hashlib

import numpy as np
import torch
from tqdm import tqdm

from ...errors import RICError, WrongKeyError
from ...io.tensors import to_float
from ...keys import Key
from ...metrics import lpips, psnr_per_image
from ...schemes import container
from ...schemes.paper import header as paper_header
from ...schemes.paper.codec import RICCodec
from ...schemes.paper.mixing import DEFAULT
from .common import LPIPS_NOTE, encrypt, quality, recover, ssim_per_image, victim_scheme


def _key(seed, label: str) -> Key:
    """A fresh random key, or with `seed` a reproducible one (runs and tests that must repeat exactly)."""
    if seed is None:
        return Key.generate()
    return Key(hashlib.sha256(f"ric-brute-force/{seed}/{label}".encode()).digest())


def brute_force(model, classifier, x: torch.Tensor, n_keys: int, device="cpu", batch: int = 64,
                show: bool = True, mix: str = DEFAULT, seed: int | None = None) -> tuple[dict, dict]:
    """(result, arrays for the figure). `model`/`classifier` are hub.Loaded. `seed`: victim key, wrong keys and
    nonces derived from it (reproducible); None: fresh random ones. The victim's ciphertexts are `ric encrypt
    --scheme paper`'s (common.victim_scheme, common.encrypt), recovered as `ric decrypt` does."""
    scheme = victim_scheme("paper", model, classifier, device, mix=mix, seed=seed, batch=batch)
    key = _key(seed, "victim")
    enc = encrypt(scheme, x, key, batch, "encrypt (victim key)", show)
    x = x[enc["keep"]]
    n = len(x)
    cipher, files = enc["cipher"], enc["files"]
    rec = recover(scheme, key, files)
    with torch.inference_mode():
        seen = torch.cat([classifier.module(cipher[s:s + batch].to(device)).argmax(1).cpu()
                          for s in range(0, n, batch)]).tolist()
    t = _wrong_keys(scheme.codec, enc, files, seen, x, rec, n_keys, seed, batch, show)

    def summ(a):
        return {"mean": float(a.mean()), "min": float(a.min()), "max": float(a.max())}

    correct = quality(rec, x)
    res = {
        "attack": "brute-force", "images": n, "wrong_keys": n_keys, "attempts": n * n_keys,
        "container_rejected": t["rejected"], "container_rejected_share": t["rejected"] / (n * n_keys),
        "container_other_errors": t["other_errors"], "container_accepted": t["accepted"],
        "bypass_PSNR_vs_plaintext": summ(t["ps_x"]), "bypass_PSNR_vs_correct_recovery": summ(t["ps_r"]),
        "bypass_SSIM_vs_plaintext": summ(t["ss_x"]), "bypass_SSIM_vs_correct_recovery": summ(t["ss_r"]),
        "correct_key_PSNR": correct["PSNR_mean"], "correct_key_SSIM": correct["SSIM_mean"],
        "LPIPS": (summ(np.array(t["lp_vals"])) if t["lp_vals"] and not t["lp_why"] else (t["lp_why"] or LPIPS_NOTE)),
        "label_used_by_attacker": "argmax C(ciphertext) (the sealed label needs the key)",
        "attacker_label_agreement": float(np.mean(np.array(seen) == np.array(enc["labels"]))),
    }
    arrays = {"x": x, "cipher": cipher, "rec": rec, "examples": t["examples"],
              "per_key_psnr": t["ps_x"].mean(1), "per_key_ssim": t["ss_x"].mean(1),
              "correct_psnr": correct["PSNR_mean"], "correct_ssim": correct["SSIM_mean"]}
    return res, arrays


def _wrong_keys(codec: RICCodec, enc: dict, files: list, seen: list, x, rec, n_keys: int, seed, batch: int,
                show: bool) -> dict:
    """Both measurements for every wrong key: the container's verdicts, and the quality of the bypass
    decryption per (key, image) against the plaintext and the correct-key recovery (plus LPIPS where it can be
    computed, and the first three keys' decryptions as examples)."""
    n, u8 = len(x), enc["cipher_u8"]
    t = {"rejected": 0, "other_errors": 0, "accepted": 0, "examples": [], "lp_vals": [], "lp_why": ""}
    t.update({k: np.zeros((n_keys, n)) for k in ("ps_x", "ps_r", "ss_x", "ss_r")})
    with tqdm(total=n_keys, desc="wrong keys", unit="key", disable=not show, leave=False) as bar:
        for m in range(n_keys):
            wk = _key(seed, f"wrong/{m}")
            for data in files:
                try:
                    paper_header.authenticate(wk, *container.read_ciphertext(data))
                    t["accepted"] += 1
                except WrongKeyError:
                    t["rejected"] += 1
                except RICError:
                    t["other_errors"] += 1
            out = []
            for s in range(0, n, batch):
                r, _ = codec.decrypt(u8[s:s + batch], wk, enc["nonces"][s:s + batch], seen[s:s + batch],
                                     phi=enc["phis"][s:s + batch])
                out.append(to_float(r, "cpu"))
            xw = torch.cat(out)
            t["ps_x"][m], t["ps_r"][m] = psnr_per_image(xw, x).numpy(), psnr_per_image(xw, rec).numpy()
            t["ss_x"][m], t["ss_r"][m] = ssim_per_image(xw, x).numpy(), ssim_per_image(xw, rec).numpy()
            if not t["lp_why"]:   # LPIPS where torchvision and its backbone weights exist; else the reason, once
                v, t["lp_why"] = lpips(xw, x)
                if v is not None:
                    t["lp_vals"].append(v)
            if m < 3:
                t["examples"].append(xw)
            bar.update(1)
    return t


def figure(path: str, arrays: dict) -> None:
    """Fig. 8 style: mean PSNR/SSIM over the images for each key, the correct key in the middle; plus examples
    (ric.lab.plots: no pyplot, no global state)."""
    from .. import plots
    pk, sk = list(arrays["per_key_psnr"]), list(arrays["per_key_ssim"])
    mid = len(pk) // 2
    pk.insert(mid, arrays["correct_psnr"])
    sk.insert(mid, arrays["correct_ssim"])
    rows = [("plaintext", arrays["x"]), ("ciphertext", arrays["cipher"]), ("correct key", arrays["rec"])] + [
        (f"wrong key {i + 1}", e) for i, e in enumerate(arrays["examples"])]
    k = min(8, len(arrays["x"]))
    fig = plots.figure("the brute-force figure", figsize=(9, 4 + 0.9 * len(rows)))
    gs = fig.add_gridspec(2 + len(rows), 8, height_ratios=[3, 3] + [1] * len(rows))
    for row, (vals, name) in enumerate(((pk, "PSNR (dB)"), (sk, "SSIM"))):
        ax = fig.add_subplot(gs[row, :])
        ax.plot(range(len(vals)), vals, lw=0.8, color="tab:blue")
        ax.plot([mid], [vals[mid]], "o", color="tab:red", label="correct key")
        ax.set_ylabel(name)
        ax.legend(loc="upper right", fontsize=8)
        if row == 0:
            ax.set_title(f"mean over {len(arrays['x'])} images per key: {len(vals) - 1} random wrong keys and the "
                         "correct key (LPIPS: see the JSON; unavailable without torchvision weights)", fontsize=9)
        else:
            ax.set_xlabel("key index")
    for r, (name, imgs) in enumerate(rows):
        for c in range(k):
            ax = fig.add_subplot(gs[2 + r, c])
            ax.imshow(imgs[c].clamp(0, 1).permute(1, 2, 0).numpy(), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(name, fontsize=7, rotation=0, ha="right", va="center")
    plots.save(fig, path, dpi=110)
