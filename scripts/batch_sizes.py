"""The celeba160 encoder (F+E), D and classifier per 160×160 image at batch sizes 16, 8 and 4 (then 16 and 4 again),
32 random images, one thread, the allocator settings `ric` starts with; median of 3 passes, ms per image.
usage: PYTHONPATH=src python scripts/batch_sizes.py"""
import os
import time

import torch

from ric import hub
from ric.allocator import keep_freed_memory
from ric.batching import in_batches

keep_freed_memory()
torch.set_num_threads(1)
m = hub.load_ric_model("celeba160").module.eval()
C = hub.load_classifier("celeba160").module.eval()
x, n = torch.rand(32, 3, 160, 160), torch.rand(32, 3, 160, 160)


def per_image_ms(f, repeat=3):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return sorted(times)[repeat // 2] * 1000 / len(x)


print(f"torch {torch.__version__}, 1 thread, load average {os.getloadavg()[0]:.2f}")
with torch.inference_mode():
    for b in (16, 8, 4, 16, 4):
        enc = per_image_ms(lambda: in_batches(m.encoder_output, x, n, batch=b))
        dec = per_image_ms(lambda: in_batches(m.decoder_output, x, batch=b))
        clf = per_image_ms(lambda: in_batches(C, x, batch=b))
        print(f"batch {b:2d}: F+E {enc:.1f} ms, D {dec:.1f} ms, classifier {clf:.2f} ms", flush=True)
print(f"load average after {os.getloadavg()[0]:.2f}")
