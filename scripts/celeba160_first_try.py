"""First-try rate and time of `ric encrypt --scheme paper` (format ric/4, shipped celeba160 pair) on all 100 test and
the first 200 training faces of celeba_faces_160, under keys K..K+1 (default 0), at Φ margin g1 (default: the
model's). usage: PYTHONPATH=src python scripts/celeba160_first_try.py DATA.npz [G1 [K]]"""
import os, sys, time, numpy as np, torch
from ric.allocator import keep_freed_memory
from ric.schemes import make_scheme
from ric.keys import Key
keep_freed_memory()   # as `ric` starts
torch.set_num_threads(1)
d = np.load(sys.argv[1])
imgs = list(d["x_test"][:100]) + list(d["x_train"][:200])
margin = float(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2] != "-" else None
first_key = int(sys.argv[3]) if len(sys.argv) > 3 else 0
sch = make_scheme("paper", classifier="celeba160", model="celeba160", seed=1, margin=margin)
print(f"torch {torch.__version__}, 1 thread, load average {os.getloadavg()[0]:.2f}; Φ {sch.codec.phi.to_dict()}")
for k in range(first_key, first_key + 2):
    t = time.perf_counter()
    out = sch.encrypt(imgs, Key(bytes([k]) * 32))
    dt = (time.perf_counter() - t) / len(imgs)
    first = [o.info["attempts"] for o in out].count(1)
    print(f"key {k}: {dt * 1000:.1f} ms per face, first try {first}/{len(out)}, "
          f"errors {sum(o.error is not None for o in out)}", flush=True)
print(f"load average after {os.getloadavg()[0]:.2f}")
