"""Attacks that learn a ciphertext -> plaintext map with a U-Net.

known_plaintext (paper §6.3, eq. 17): a former authorised user holds N (ciphertext, correctly recovered
    plaintext) pairs of ONE key and trains M to map ciphertexts to recoveries; tested on other ciphertexts of
    the same key.
inversion (DESIGN §6; the attacker the paper omits): the attacker holds every public model (F, E, D, C), so it
    encrypts plaintexts of its own with keys of its own, as many as it likes, and trains M on those pairs;
    tested on ciphertexts made with a key it never saw.

Both are reported next to three attackers that need no network: the training-set mean image, the mean image of the
ciphertext's (public) label, and a 5x5 box blur of the ciphertext with a per-channel affine map fitted on the
attacker's training pairs. The verdict compares with the label-conditioned mean (the label is public by design).
"""
from __future__ import annotations

import torch

from ...keys import Key
from ...schemes.paper.mixing import DEFAULT
from ...training.scoped import seeded_init
from .common import (
    LowPassAttack,
    encrypt,
    label_mean_baseline,
    mean_image_baseline,
    predict,
    quality,
    recover,
    train_regressor,
    victim_scheme,
)
from .unet import UNet


def _verdict(q: dict) -> dict:
    gain = q["U-Net"]["PSNR_mean"] - q["mean image"]["PSNR_mean"]
    gain_label = q["U-Net"]["PSNR_mean"] - q["label mean image"]["PSNR_mean"]
    return {"PSNR_gain_over_mean_image_dB": gain, "PSNR_gain_over_label_mean_image_dB": gain_label,
            "target_PSNR_gain_over_label_mean_le_0.5dB": gain_label <= 0.5,
            "target_SSIM_le_0.2": q["U-Net"]["SSIM_mean"] <= 0.2}


def _fit_and_score(cipher_tr, target_tr, cipher_te, x_te, mean_src, epochs, width, batch, lr, device, show, seed,
                   labels_src, labels_te):
    with seeded_init(seed):
        net = UNet(width)
    hist = train_regressor(net, cipher_tr, target_tr, epochs, batch, lr, device, "train U-Net", show, seed)
    pred = predict(net, cipher_te, device=device)
    lp = LowPassAttack().fit(cipher_tr, target_tr)
    q = {"U-Net": quality(pred, x_te), "low-pass + affine": quality(lp(cipher_te), x_te),
         "mean image": mean_image_baseline(mean_src, x_te),
         "label mean image": label_mean_baseline(mean_src, labels_src, x_te, labels_te),
         "ciphertext itself": quality(cipher_te, x_te)}
    return q, pred, lp(cipher_te), hist


def known_plaintext(model, classifier, x: torch.Tensor, n_train: int, epochs: int, width: int = 32,
                    device="cpu", batch: int = 64, lr: float = 1e-3, show: bool = True, seed: int = 0,
                    mix: str = DEFAULT):
    """The paper scheme's ciphertexts of one key, as `ric encrypt` makes them, and their recoveries as `ric decrypt`
    gives them (common.victim_scheme, encrypt, recover)."""
    scheme = victim_scheme("paper", model, classifier, device, mix=mix, batch=batch)
    key = Key.generate()
    enc = encrypt(scheme, x, key, batch, "encrypt (one key)", show)
    x = x[enc["keep"]]
    rec = recover(scheme, key, enc["files"])
    c = enc["cipher"]
    tr, te = slice(0, n_train), slice(n_train, None)
    lab = list(enc["labels"])
    q, pred, low, hist = _fit_and_score(c[tr], rec[tr], c[te], x[te], rec[tr], epochs, width, 32, lr, device,
                                        show, seed, lab[:n_train], lab[n_train:])
    res = {"attack": "known-plaintext", "train_pairs": len(c[tr]), "test_images": len(c[te]),
           "pairs": "(ciphertext, correct-key recovery), one key", "epochs": epochs, "unet_width": width,
           "final_train_mse": hist[-1], "results_vs_plaintext": q, **_verdict(q)}
    arrays = {"plaintext": x[te], "ciphertext": c[te], "U-Net (KPA)": pred, "low-pass + affine": low}
    return res, arrays


def inversion(model, classifier, x_train: torch.Tensor, x_test: torch.Tensor, n_keys: int, epochs: int,
              width: int = 32, device="cpu", batch: int = 64, lr: float = 1e-3, show: bool = True, seed: int = 0,
              scheme: str = "paper", mix: str = DEFAULT):
    """`scheme`: whose ciphertexts, built as `ric encrypt --scheme NAME` builds them (common.victim_scheme; `model`
    unused where the scheme needs no RIC model); images a scheme refuses (the sealed scheme's that do not fit
    losslessly) are left out on both sides. `mix`: the paper scheme's keyed mixing of u_en
    (ric.schemes.paper.mixing)."""
    victim_of = victim_scheme(scheme, model, classifier, device, mix=mix, batch=batch)

    def enc_with(x, key, desc):
        return encrypt(victim_of, x, key, batch, desc, show)
    groups = torch.arange(len(x_train)).chunk(max(1, n_keys))
    cs, xs, ys = [], [], []
    for g in groups:  # the attacker's own keys, one per group of its own plaintexts
        enc = enc_with(x_train[g], Key.generate(), "encrypt (attacker keys)")
        cs.append(enc["cipher"])
        xs.append(x_train[g][enc["keep"]])
        ys += list(enc["labels"])
    c_tr, x_tr = torch.cat(cs), torch.cat(xs)
    victim = enc_with(x_test, Key.generate(), "encrypt (victim key)")
    x_te, c_te = x_test[victim["keep"]], victim["cipher"]
    q, pred, low, hist = _fit_and_score(c_tr, x_tr, c_te, x_te, x_tr, epochs, width, 32, lr, device, show, seed,
                                        ys, list(victim["labels"]))
    res = {"attack": "inversion", "scheme": scheme, "train_pairs": len(c_tr), "attacker_keys": len(groups),
           "test_images": len(c_te),
           "test_key": "a fresh key the attacker never saw", "epochs": epochs, "unet_width": width,
           "final_train_mse": hist[-1], "results_vs_plaintext": q, **_verdict(q)}
    arrays = {"plaintext": x_te, "ciphertext": c_te, "U-Net (inversion)": pred, "low-pass + affine": low}
    return res, arrays
