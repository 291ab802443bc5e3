"""The sealed scheme's attack at the classifier's resolution on every photo of a folder, for efficientnet-lite0: per
photo its size, seconds, the lift that reached the margin (0: the whole-image attack finished it) and the steps, in
this process. usage: python scripts/pretrained/sealed_lifts.py FOLDER"""
import os
import sys
import time

import numpy as np
import torch
from PIL import Image

from ric.keys import Key
from ric.schemes import make_scheme

torch.set_num_threads(1)
folder = sys.argv[1]
sch = make_scheme("sealed", classifier="efficientnet-lite0", seed=1)
lifts = []
for name in sorted(os.listdir(folder)):
    img = np.asarray(Image.open(os.path.join(folder, name)).convert("RGB"))
    t = time.perf_counter()
    out = sch.encrypt([img], Key(bytes(32)))[0]
    info = out.info or {}
    lifts.append(info.get("lift"))
    print(f"{name} {img.shape[1]}x{img.shape[0]}: {time.perf_counter() - t:.1f} s, lift {info.get('lift')}, "
          f"steps {info.get('steps')}, attempts {info.get('attempts')}, error {out.error}", flush=True)
print(f"lift per photo: {dict((k, lifts.count(k)) for k in sorted(set(lifts), key=str))}")
