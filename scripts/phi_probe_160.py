"""Φ probes with the celeba160 classifier (issue 7, round 2): 8 test faces, one keyed noise each, refill Φ with several
(lr, margin, step limit); prints steps and successes. python scripts/phi_probe_160.py (from the repository root)."""
import os
import time

import numpy as np
import torch

from ric import hub
from ric.keys import Key, new_nonce
from ric.nae import PhiConfig, generate_nae
from ric.noise import noise_image

torch.set_num_threads(1)
C = hub.load_classifier('celeba160').module.eval()
x = torch.from_numpy(np.load('../shared/data/celeba_faces_160.npz')['x_test'][:8]).permute(0,3,1,2).float()/255
with torch.no_grad(): y = C(x).argmax(1)
print("targets", y.tolist())
key = Key.generate()
noise = torch.stack([noise_image(key, new_nonce(), (3,160,160)) for _ in range(8)])
for margin, steps, lr in [(3.0, 3, 0.2), (1.0, 60, 0.2), (3.0, 60, 0.2), (1.0, 40, 0.05), (1.0, 40, 0.5)]:
    t = time.perf_counter(); r = generate_nae(C, noise, y, PhiConfig(lr=lr, margin=margin, max_steps=steps))
    dt = time.perf_counter() - t
    print(f"lr {lr} margin {margin} max {steps}: {dt:.1f} s, steps {r.steps.tolist()}, ok {r.success.tolist()}, load {os.getloadavg()[0]:.1f}", flush=True)
