"""One-off check (issue 7, round 2): PSNR of the shipped celeba64 RIC model at 64x64 and at 160x160, with keyed
noise (no Φ) as n_adv, 8 test faces each: python scripts/psnr_ric_at_160.py (run from the repository root)."""
import os

import numpy as np
import torch

from ric import hub
from ric.keys import Key, new_nonce
from ric.nets.ric import quantize
from ric.noise import noise_image

torch.set_num_threads(1)
M = hub.load_ric_model("celeba64").module.eval()
key = Key.generate()
for f, n in (("celeba_faces_64.npz", 8), ("celeba_faces_160.npz", 8)):
    x = np.load("../shared/data/" + f)["x_test"][:n]
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255
    na = torch.stack([noise_image(key, new_nonce(), tuple(xt.shape[1:])) for _ in range(n)])
    with torch.inference_mode():
        xq = quantize(M.encode(xt, na), training=False)
        rec = torch.round(M.decode(xq, na).clamp(0, 1) * 255)
    err = ((rec - xt * 255) ** 2).mean(dim=(1, 2, 3))
    ps = 10 * torch.log10(255 ** 2 / err)
    print(f, "PSNR mean %.2f min %.2f" % (ps.mean(), ps.min()), os.getloadavg()[0], flush=True)
