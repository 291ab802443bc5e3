"""Where format ric/4's encryption of 160×160 faces spends its time: cProfile of the paper scheme's encrypt (the
shipped celeba160 pair, what `ric encrypt` writes) over 32 test faces in this process, one thread, after a warm-up,
beside one forward+backward of the classifier per face (batches of 8). Prints the ratio and the functions with the
most cumulative time. usage (from the project root): PYTHONPATH=src python scripts/profile_ric4_160.py [N_LINES]"""
import cProfile
import io
import os
import pstats
import sys
import time

import numpy as np
import torch

from ric.allocator import keep_freed_memory
from ric.datasets.arrays import load_npz
from ric.keys import Key
from ric.schemes import make_scheme

keep_freed_memory()
torch.set_num_threads(1)
faces = [np.asarray(a) for a in load_npz("../shared/data/celeba_faces_160.npz", "test").x[:32]]
sch = make_scheme("paper", classifier="celeba160", model="celeba160", seed=1)
sch.encrypt(faces[:8], Key(bytes(32)))                     # warm-up
clf = sch.codec.classifier
x = torch.rand(8, 3, 160, 160, requires_grad=True)
for _ in range(2):
    clf(x).sum().backward()
t = time.perf_counter()
for _ in range(5):
    clf(x).sum().backward()
fwd_bwd = (time.perf_counter() - t) / 40
prof = cProfile.Profile()
t = time.perf_counter()
prof.enable()
out = sch.encrypt(faces, Key(bytes(32)))
prof.disable()
per = (time.perf_counter() - t) / len(faces)
print(f"load average {os.getloadavg()[0]:.2f}; forward+backward {fwd_bwd * 1e3:.2f} ms/face; ric/4 encrypt "
      f"{per * 1e3:.1f} ms/face = {per / fwd_bwd:.1f}x; failed {sum(o.error is not None for o in out)}")
s = io.StringIO()
pstats.Stats(prof, stream=s).sort_stats("cumtime").print_stats(int(sys.argv[1]) if len(sys.argv) > 1 else 40)
print(s.getvalue())
