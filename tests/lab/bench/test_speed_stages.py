"""Stages of `ric bench speed` (ric.lab.bench.speed) run on their own, with seeded nonces: what they report
about bits."""
import argparse

import numpy as np
import torch

from ric.keys import seeded_nonces
from ric.lab.bench import speed
from ric.nae import PhiConfig
from ric.schemes.paper.codec import RICCodec

SEED_ESCALATE = 2   # as in tests/schemes/paper/test_codec.py: some images are retried with escalated Φ settings


def test_in_memory_decryption_regenerates_retried_images_with_their_own_settings(tiny_model, toy_classifier, key,
                                                                                  images):
    """A retried image's Φ settings are escalated; the benchmark's regenerating decryption must use them, so that it
    reproduces every n_adv (the fast one, unsealed) and recovers what the fast decryption recovers. Before, it
    passed the bare ciphertexts and regenerated with the codec's settings: 'fast == regen False' at 64×64."""
    codec = RICCodec(tiny_model, toy_classifier, PhiConfig(lr=0.1, max_steps=1, margin=40.0, chunk=4), "cpu",
                     nonce_source=seeded_nonces(SEED_ESCALATE))
    enc = codec.encrypt(images, key)
    assert enc.nae_retries > 0 and {p.max_steps for p in enc.phis} - {1}   # the case that went wrong
    x = (images.permute(0, 2, 3, 1) * 255).round().to(torch.uint8).numpy()
    r = speed.Run(argparse.Namespace(repeat=1), None, None, x, images, key, codec.phi, set(), (0, 0, 0), 0.0,
                  {"codec": codec, "enc": enc, "enc_t": 1.0, "unsealed": list(enc.n_adv)})
    res = {}
    speed.decrypt_in_memory(r, res)
    assert res["fast_equals_regen"] is True
    assert np.isfinite(res["psnr_db"]["min"])
