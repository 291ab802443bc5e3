"""Encrypt and decrypt chosen test images of a shipped pair with the codec, and show what each image needed: its
nonces (attempts), its final Φ settings (escalated after failures) and steps, and whether the regenerating
decryption reproduced n_adv. Not a test: a diagnosis of slow or failing images.

usage: python scripts/diag_hard_faces.py INDEX [INDEX ...] [--model celeba64] [--data NPZ] [--threads 1]

INDEX: rows of the test split (`ric evaluate --n 500` on CelebA-64 takes all 495, in order).
"""
import argparse
import time

import numpy as np
import torch

from ric.datasets.arrays import load_npz
from ric.files.engine import model_phi
from ric.hub import load_classifier, load_ric_model
from ric.keys import Key
from ric.schemes.paper.codec import RICCodec


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("index", type=int, nargs="+")
    ap.add_argument("--model", default="celeba64")
    ap.add_argument("--data", default="../shared/data/celeba_faces_64.npz")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    m, c = load_ric_model(a.model), load_classifier(a.model)
    x, y = load_npz(a.data, "test").tensors(np.array(a.index), "cpu")
    codec = RICCodec(m.module, c.module, model_phi(m), "cpu")
    print(f"Φ {codec.phi}\npredicted labels {codec.classify(x).tolist()} (true {y.tolist()})")
    key = Key.generate()
    t = time.perf_counter()
    e = codec.encrypt(x, key)
    print(f"encrypt {time.perf_counter() - t:.1f} s: failed {e.failed}, NAE retries {e.nae_retries}, label retries "
          f"{e.label_retries}")
    for i, att, steps, phi in zip(a.index, e.attempts, e.steps, e.phis):
        print(f"  image {i}: {att} nonce(s), {steps} steps, final Φ g1 {phi.margin} / ≤ {phi.max_steps} steps / "
              f"{phi.chunk} slot(s)")
    t = time.perf_counter()
    _, ok = codec.decrypt(e.cipher, key, e.nonces, e.labels, e.fingerprints, phi=e.phis)
    print(f"decrypt (regenerating Φ) {time.perf_counter() - t:.1f} s; n_adv reproduced: {ok}")


if __name__ == "__main__":
    main()
