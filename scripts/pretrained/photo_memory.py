"""One photo (synthetic, ric.lab.bench.photo_sizes) of H×W encrypted in this process for efficientnet-lite0: wall time,
peak resident memory and the scheme's estimate, with the allocator settings `ric` starts with (ric.allocator).
usage: python scripts/pretrained/photo_memory.py sealed|paper H W"""
import resource, sys, time, numpy as np, torch
from ric.allocator import keep_freed_memory
from ric.schemes import make_scheme
from ric.keys import Key
from ric.lab.bench.photo_sizes import synthetic_photo
torch.set_num_threads(1)
keep_freed_memory()
name, h, w = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
img = synthetic_photo(h, w)
sch = make_scheme(name, classifier="efficientnet-lite0", **({"model": "cifar10"} if name == "paper" else {}), seed=1)
t = time.perf_counter(); o = sch.encrypt([img], Key(bytes(32)))[0]; dt = time.perf_counter() - t
print(f"{name} {w}x{h}: encrypt {dt:.1f} s in process, error={o.error}, peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024:.0f} MiB, estimate {sch.peak_bytes(h, w, 1)/2**20:.0f} MiB")
