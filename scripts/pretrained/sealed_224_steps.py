"""How many coarse-attack steps a 224×224 image takes behind efficientnet-lite0 (sealed scheme: its pipeline and two
views), for a step size and a margin: N CIFAR-10 test images (default 6) resized bicubic to 224, one thread, one
image at a time. usage (from the project root): PYTHONPATH=src python scripts/pretrained/sealed_224_steps.py LR
MARGIN [N]"""
import dataclasses
import sys
import time

import numpy as np
import torch
from PIL import Image

from ric.allocator import keep_freed_memory
from ric.datasets.arrays import load_npz
from ric.keys import Key
from ric.schemes import make_scheme

keep_freed_memory()
torch.set_num_threads(1)
lr, margin = float(sys.argv[1]), float(sys.argv[2])
n = int(sys.argv[3]) if len(sys.argv) > 3 else 6
x = load_npz("../shared/data/cifar10.npz", "test").x
picks = np.linspace(0, len(x) - 1, n).astype(int)
imgs = [np.asarray(Image.fromarray(x[i]).resize((224, 224), Image.BICUBIC)) for i in picks]
sch = make_scheme("sealed", classifier="efficientnet-lite0", seed=1)
sch.codec.cfg = dataclasses.replace(sch.codec.cfg, lr=lr, margin=margin)
print("cfg", sch.codec.cfg)
t = time.perf_counter()
sch.encrypt(imgs[:1], Key(bytes(32)))
print(f"warm {time.perf_counter() - t:.1f}s")
ts, st = [], []
for im in imgs:
    t = time.perf_counter()
    o = sch.encrypt([im], Key(bytes(32)))[0]
    ts.append(time.perf_counter() - t)
    st.append(o.info.get("steps") if o.error is None else "ERR")
print(f"lr {lr} margin {margin}: s/img median {np.median(ts):.2f} (min {min(ts):.2f}); steps {st}")
