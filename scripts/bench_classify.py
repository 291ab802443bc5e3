"""Classification throughput (the cloud's forward pass) of a shipped classifier on test images, per image, best of
`--repeat`, batches of `--batch`: python scripts/bench_classify.py --classifier celeba160 --data celeba_faces_160.npz"""
import argparse
import os
import time

import numpy as np
import torch

from ric import hub


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--classifier", required=True)
    ap.add_argument("--data", required=True, help="an .npz in --root with x_test")
    ap.add_argument("--root", default="../shared/data")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--batch", type=int, default=25)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    c = hub.load_classifier(a.classifier).module.eval()
    x = torch.from_numpy(np.load(os.path.join(a.root, a.data))["x_test"][:a.n]).permute(0, 3, 1, 2).float() / 255
    load0, best = os.getloadavg()[0], float("inf")
    with torch.inference_mode():
        c(x[:a.batch])   # warm-up
        for _ in range(a.repeat):
            t = time.perf_counter()
            for s in range(0, len(x), a.batch):
                c(x[s:s + a.batch]).argmax(1)
            best = min(best, (time.perf_counter() - t) / len(x))
    print(f"{a.classifier} on {len(x)} images {tuple(x.shape[2:])}: {1000 * best:.2f} ms/img, {1 / best:.1f} img/s "
          f"(batch {a.batch}, {a.threads} thread(s), load {load0:.2f} -> {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
