"""Where one photo's encryption for efficientnet-lite0 spends its time: cProfile of the scheme's encrypt in this
process, the 25 functions with the most time of their own. usage: python scripts/pretrained/profile_encrypt.py
sealed|paper W H (scikit-image's astronaut, resized bicubic to W×H; one thread; the allocator settings `ric` starts with)"""
import cProfile
import io
import pstats
import sys
import time

import numpy as np
import torch
from PIL import Image
from skimage import data

from ric.allocator import keep_freed_memory
from ric.keys import Key
from ric.schemes import make_scheme

keep_freed_memory()
torch.set_num_threads(1)
name, w, h = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
img = np.asarray(Image.fromarray(data.astronaut()).resize((w, h), Image.BICUBIC))
sch = make_scheme(name, classifier="efficientnet-lite0", **({"model": "cifar10"} if name == "paper" else {}), seed=1)
prof = cProfile.Profile()
t = time.perf_counter()
prof.enable()
out = sch.encrypt([img], Key(bytes(32)))[0]
prof.disable()
print(f"{name} {w}x{h}: encrypt {time.perf_counter() - t:.1f} s, error={out.error}, info={out.info}")
s = io.StringIO()
pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(30)
print(s.getvalue())
