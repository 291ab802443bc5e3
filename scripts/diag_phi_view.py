"""Why ric/2 needs Φ to aim at the expected ciphertext: for N test images, compare the classifier margin of n_adv, of
the real ciphertext and of the blend λ·n_adv + (1 − λ)·0.5, with mixing "none" and "perm-sign/1" (ric/2), using
the codec's Φ. Usage: python scripts/diag_phi_view.py MODEL DATASET N  (e.g. mnist mnist 16; DATASET names
../shared/data/DATASET.npz)."""
import sys

import numpy as np
import torch

from ric import hub
from ric.datasets import load_dataset
from ric.files.engine import model_phi
from ric.keys import Key, new_nonce
from ric.nae import margin_of
from ric.schemes.paper.codec import RICCodec

torch.set_num_threads(1)
name, ds_name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
m, c = hub.load_ric_model(name), hub.load_classifier(name)
phi = model_phi(m)
ds = load_dataset(f"../shared/data/{ds_name}.npz", "test")
idx = np.sort(np.random.default_rng(0).permutation(len(ds))[:n])
x = torch.from_numpy(np.stack([ds.x[i] for i in idx])).float() / 255
if x.ndim == 3: x = x[..., None]
x = x.permute(0, 3, 1, 2)
if x.shape[1] == 1: x = x.repeat(1, 3, 1, 1)
key = Key.generate()
for mix in ("none", "perm-sign/1"):
    codec = RICCodec(m.module, c.module, phi, mix=mix, max_retries=0)
    y = codec.classify(x)
    nonces = [new_nonce() for _ in range(n)]
    res = codec._nae(key, nonces, y, tuple(x.shape[1:]), codec.phi)
    with torch.no_grad():
        xq = codec._encode(x, res.n_adv, key, nonces)
        m0 = margin_of(c.module(res.n_adv), y)
        m1 = margin_of(c.module(xq), y)
        m2 = margin_of(c.module(0.8 * res.n_adv + 0.1), y)
    print(mix, "nae ok", res.success.float().mean().item(), "cipher ok", (m1 > 0).float().mean().item(),
          "blend0.5 ok", (m2 > 0).float().mean().item())
    print("  margins n_adv", m0.numpy().round(1)[:12])
    print("  margins ciph ", m1.numpy().round(1)[:12])
    print("  margins b0.5 ", m2.numpy().round(1)[:12])
