"""Behind a pipeline with views, encryption aims at the plaintext's own label under each view: a cloud that
preprocesses another way labels the ciphertext as it labels the plaintext, even where that label is not ŷ."""
import itertools

import numpy as np
import torch
import torch.nn.functional as F
from conftest import ToyClassifier

from ric.classifiers.pipeline import Pipeline, WithPipeline, attack_module
from ric.io.tensors import to_float
from ric.nae import margin_of
from ric.schemes.paper.codec import RICCodec
from ric.schemes.sealed import SealedCodec


def _classifier():
    """ToyClassifier behind a pipeline whose view (the centre 16×16) labels these plaintexts otherwise."""
    return WithPipeline(Pipeline(32, 32, views=[{"crop": 16}]), ToyClassifier()).eval()


def _plaintexts() -> np.ndarray:
    """Blocky 32×32 images (seeds 0 and 19) whose label under the view differs from ŷ, both ways."""
    x = torch.cat([torch.rand(1, 3, 4, 4, generator=torch.Generator().manual_seed(s)) for s in (0, 19)])
    x = F.interpolate(x, size=(32, 32), mode="nearest")
    return (x * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def _labels_per_view(clf, images) -> list[list[int]]:
    with torch.inference_mode():
        return attack_module(clf)(to_float(images)).argmax(-1).tolist()


def _nonces():
    count = itertools.count()
    return lambda: next(count).to_bytes(16, "big")


def test_premise_the_view_labels_these_plaintexts_otherwise():
    assert _labels_per_view(_classifier(), _plaintexts()) == [[0, 3], [3, 0]]


def test_margin_towards_one_label_per_view():
    logits = torch.tensor([[[3.0, 1.0, 0.0], [0.0, 5.0, 1.0]]])
    assert margin_of(logits, torch.tensor([[0, 1]])).tolist() == [2.0]       # min(3 - 1, 5 - 1)
    assert margin_of(logits, torch.tensor([0])).tolist() == [-5.0]           # one target for both: min(2, -5)


def test_sealed_ciphertexts_follow_every_views_own_label(key):
    clf, images = _classifier(), _plaintexts()
    res = SealedCodec(clf, nonce_source=_nonces(), seed=0).encrypt(list(images), key)
    assert not res.errors
    assert res.labels == [0, 3]                                              # ŷ: the pipeline's own
    assert _labels_per_view(clf, np.stack(res.cipher)) == [[0, 3], [3, 0]]
    assert [np.array_equal(SealedCodec.decrypt(c, key), x) for c, x in zip(res.cipher, images)] == [True, True]


def test_paper_ric4_follows_every_views_own_label_and_legacy_aims_at_y_hat(tiny_model, key):
    clf, images = _classifier(), _plaintexts()
    x = to_float(images)
    enc = RICCodec(tiny_model, clf, mix="none", nonce_source=_nonces(), grid=True).encrypt(x, key)
    assert not enc.failed and enc.labels == [0, 3] and enc.aims == [[0, 3], [3, 0]]
    assert _labels_per_view(clf, enc.cipher.numpy()) == [[0, 3], [3, 0]]
    legacy = RICCodec(tiny_model, clf, mix="none", nonce_source=_nonces(), grid=False)
    assert legacy.aims(x).tolist() == [0, 3]        # ric/1–ric/3 regenerate Φ from the recorded ŷ alone


def test_paper_in_memory_decryption_regenerates_with_the_aims(tiny_model, key):
    clf, images = _classifier(), _plaintexts()
    codec = RICCodec(tiny_model, clf, mix="none", nonce_source=_nonces(), grid=True)
    enc = codec.encrypt(to_float(images), key)
    _, ok = codec.decrypt(enc, key)
    assert ok == [True, True]                                                 # n_adv regenerated bit for bit
