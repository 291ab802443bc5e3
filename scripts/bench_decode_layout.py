"""D's time per image on the same values in two memory layouts (issue 7: why ric/2's decode was slower).

usage: python scripts/bench_decode_layout.py [--batch 16] [--rounds 15]

u' of the paper scheme comes from HWC pixels and keeps channels-last strides; ric/2's unscrambled u'' is a fresh
NCHW tensor. Shipped cifar10 RIC model, random 32×32 ciphertexts, 1 thread, best of --rounds (interleaved, so
that load changes hit every variant alike). Prints a Markdown table. Not a test.
"""
import argparse
import os
import time

import torch

from ric import hub
from ric.io.tensors import to_float
from ric.keys import Key, new_nonce
from ric.nets.ric import srl_subtract
from ric.schemes.paper.mixing import batch_maps, unscramble


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=15)
    a = ap.parse_args()
    torch.set_num_threads(1)
    m = hub.load_ric_model("cifar10").module.eval()
    key, b = Key(os.urandom(32)), a.batch
    cipher = torch.randint(0, 256, (b, 32, 32, 3), dtype=torch.uint8)
    with torch.inference_mode():
        u = srl_subtract(to_float(cipher, "cpu"), torch.rand(b, 3, 32, 32), 0.8)
        uu = unscramble(u, *batch_maps(key, [new_nonce() for _ in range(b)], (3, 32, 32)))
        variants = {"u' (paper scheme, as computed)": u, "u' made NCHW-contiguous": u.contiguous(),
                    "u'' (ric/2, as unscrambled)": uu,
                    "u'' made channels-last (what decode does now)": uu.contiguous(memory_format=torch.channels_last)}
        best = {k: float("inf") for k in variants}
        for _ in range(a.rounds):
            for k, v in variants.items():
                t = time.perf_counter()
                m.decoder_output(v)
                best[k] = min(best[k], time.perf_counter() - t)
    load = "%.2f" % os.getloadavg()[0]
    print(f"D, batch {b}, 1 thread, best of {a.rounds}, load {load}\n\n| input | strides | ms/img |\n|---|---|---|")
    for k, v in variants.items():
        print(f"| {k} | {tuple(v.stride())} | {best[k] / b * 1e3:.3f} |")


if __name__ == "__main__":
    main()
