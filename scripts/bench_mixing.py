"""Cost of format ric/2's keyed mixing per image: both keyed maps (two ChaCha20 keystreams, one argsort of H·W
values) plus scramble and unscramble. Prints one line per size; 1 torch thread, best of 3.

    python scripts/bench_mixing.py [--sizes 32,160]
"""
import argparse
import os
import platform
import time

import torch

from ric.keys import Key, new_nonce
from ric.schemes.paper.mixing import batch_maps, scramble, unscramble


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="32,160")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(1)
    key = Key.generate()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, 1 thread, "
          f"load {os.getloadavg()[0]:.2f}")
    print("| size | images | maps + scramble + unscramble, ms/img |\n|---|---|---|")
    for hw in (int(s) for s in a.sizes.split(",")):
        n = max(4, 32768 // (hw * hw))
        nonces = [new_nonce() for _ in range(n)]
        u = torch.rand(n, 3, hw, hw)
        best = float("inf")
        for _ in range(a.repeat):
            t = time.perf_counter()
            perm, mask = batch_maps(key, nonces, (3, hw, hw))
            assert torch.equal(unscramble(scramble(u, perm, mask), perm, mask), u)
            best = min(best, time.perf_counter() - t)
        print(f"| {hw}×{hw} | {n} | {1000 * best / n:.3f} |")


if __name__ == "__main__":
    main()
