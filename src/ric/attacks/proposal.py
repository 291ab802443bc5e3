"""An experiment for the integrator, not part of the library's encryption path: a KEYED PIXEL PERMUTATION AND
SIGN MASK of u_en, wrapped around the shipped model without retraining.

    encrypt: u_en as the model makes it; u_p = M_k(P_k(u_en)), where P_k permutes the H·W pixel positions and
             M_k replaces u by 1 - u on a keyed half of the values (both from ChaCha20 under HKDF(key, nonce));
             x'_q = Q((1 - λ) u_p + λ n_adv)
    decrypt: u' = (x'_q - λ n_adv)/(1 - λ); u'' = P_k⁻¹(M_k(u')); x̃ = D(u'') exactly as the shipped decoder does.

Both maps are exact and invertible and the 8-bit error stays i.i.d., so D sees what it was trained on and the
fidelity should stay; the plaintext's spatial structure in the ciphertext is scrambled under a key the attacker
lacks. What this costs is whether the ciphertext is still labelled ŷ (the copy of x no longer helps C): measured
here as the share labelled ŷ at the first nonce. Run: python -m ric.attacks.proposal --n 500 --n-test 100
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from ..codec import RICCodec
from ..keys import Key, new_nonce
from ..nae import generate_nae
from ..nets.ric import quantize
from ..noise import keystream, noise_image
from .common import LowPassAttack, mean_image_baseline, predict, quality, train_regressor
from .unet import UNet


def _maps(key: Key, nonce: bytes, c: int, h: int, w: int):
    r = np.frombuffer(keystream(key, nonce, "proposal/perm", 4 * h * w), dtype="<u4")
    perm = torch.from_numpy(np.argsort(r, kind="stable").astype(np.int64))
    bits = np.unpackbits(np.frombuffer(keystream(key, nonce, "proposal/mask", (c * h * w + 7) // 8), np.uint8))
    mask = torch.from_numpy(bits[:c * h * w].reshape(c, h, w).astype(bool))
    return perm, mask


def scramble(u: torch.Tensor, perm, mask) -> torch.Tensor:
    c, h, w = u.shape
    v = u.reshape(c, h * w)[:, perm].reshape(c, h, w)
    return torch.where(mask.to(u.device), 1 - v, v)


def unscramble(v: torch.Tensor, perm, mask) -> torch.Tensor:
    c, h, w = v.shape
    v = torch.where(mask.to(v.device), 1 - v, v).reshape(c, h * w)
    out = torch.empty_like(v)
    out[:, perm] = v
    return out.reshape(c, h, w)


@torch.no_grad()
def _encode_u(model, x, n_adv):
    lam = model.lam
    return (model.encode(x, n_adv) - lam * n_adv) / (1 - lam)


def encrypt_scrambled(codec: RICCodec, x: torch.Tensor, key: Key):
    m, c = codec.model, codec.classifier
    with torch.no_grad():
        y = c(x).argmax(1)
    nonces = [new_nonce() for _ in range(len(x))]
    noise = torch.stack([noise_image(key, nc, tuple(x.shape[1:])) for nc in nonces])
    n_adv = generate_nae(c, noise, y, codec.phi).n_adv
    u = _encode_u(m, x, n_adv)
    maps = [_maps(key, nc, *x.shape[1:]) for nc in nonces]
    up = torch.stack([scramble(u[i], *maps[i]) for i in range(len(x))])
    xq = quantize((1 - m.lam) * up + m.lam * n_adv, training=False)
    with torch.no_grad():
        ok = (c(xq).argmax(1) == y)
    return xq, n_adv, maps, ok


@torch.no_grad()
def decrypt_scrambled(codec: RICCodec, xq, n_adv, maps):
    m = codec.model
    u = (xq - m.lam * n_adv) / (1 - m.lam)
    u2 = torch.stack([unscramble(u[i], *maps[i]) for i in range(len(u))])
    return m.decode((1 - m.lam) * u2 + m.lam * n_adv, n_adv).clamp(0, 1)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None)
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--n-test", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    from .. import hub
    from .common import default_data, load_split, pick
    t0 = time.perf_counter()
    model, clf = hub.load_ric_model("cifar10"), hub.load_classifier("cifar10")
    codec = RICCodec(model.module, clf.module)
    ds = load_split(a.data or default_data(), "test")
    x = ds.tensors(pick(len(ds), a.n + a.n_test, a.seed))[0]
    x = x[torch.randperm(len(x), generator=torch.Generator().manual_seed(a.seed))]
    key = Key.generate()
    parts = [encrypt_scrambled(codec, x[s:s + 64], key) for s in range(0, len(x), 64)]
    xq = torch.cat([p[0] for p in parts])
    ok = torch.cat([p[3] for p in parts])
    rec = torch.cat([decrypt_scrambled(codec, p[0], p[1], p[2]) for p in parts])
    rec = torch.round(rec * 255) / 255
    tr, te = slice(0, a.n), slice(a.n, None)
    torch.manual_seed(a.seed)
    net = UNet(32)
    train_regressor(net, xq[tr], rec[tr], a.epochs, 32, 1e-3, "cpu", "KPA U-Net (scrambled)", True, a.seed)
    q = {"U-Net (KPA, one key)": quality(predict(net, xq[te]), x[te]),
         "low-pass + affine": quality(LowPassAttack().fit(xq[tr], rec[tr])(xq[te]), x[te]),
         "mean image": mean_image_baseline(rec[tr], x[te]), "ciphertext itself": quality(xq[te], x[te])}
    res = {"experiment": "keyed pixel permutation + sign mask around the shipped cifar10 model (no retraining)",
           "images": len(x), "ciphertext_labelled_y_hat_first_nonce": ok.float().mean().item(),
           "recovery_PSNR_dB": quality(rec, x)["PSNR_mean"], "recovery_SSIM": quality(rec, x)["SSIM_mean"],
           "kpa_train_pairs": a.n, "kpa_epochs": a.epochs, "results_vs_plaintext": q,
           "command": "python -m ric.attacks.proposal " + " ".join(argv or __import__("sys").argv[1:]),
           "wall_s": time.perf_counter() - t0}
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
