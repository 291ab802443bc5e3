"""The paper scheme with class starts: Φ begins from them, the ciphertext records them, decryption needs them."""
import dataclasses
import os

import numpy as np
import pytest
import torch
from conftest import FAST_PHI

from ric import hub
from ric.errors import ModelLoadError, ModelMismatchError
from ric.keys import seeded_nonces
from ric.schemes import container
from ric.schemes.paper.codec import RICCodec
from ric.schemes.paper.scheme import PaperScheme
from ric.starts import SHIFT_FLIP, ClassStarts, fit_starts, place, save_starts, starts_path

PHI = dataclasses.replace(FAST_PHI, view=0.8)


def _fitted(classifier, identity="toy@0123456789ab", size=16, view=0.8, seed=0, moves=""):
    p, rec = fit_starts(classifier, (3, size, size), 0.3, view, PHI.margin, steps=15, per_class=2, seed=seed,
                        moves=moves)
    return ClassStarts(p, 0.3, view, identity, rec, moves)


def test_codec_records_and_uses_the_starts(tiny_model, toy_classifier, key, images):
    starts = _fitted(toy_classifier)
    warm = RICCodec(tiny_model, toy_classifier, PHI, nonce_source=seeded_nonces(0), starts=starts)
    cold = RICCodec(tiny_model, toy_classifier, PHI, nonce_source=seeded_nonces(0))
    a, b = warm.encrypt(images, key), cold.encrypt(images, key)
    assert a.failed == [] and a.nonces == b.nonces
    assert all(p.start == 0.3 and p.start_id == starts.digest for p in a.phis)
    assert not torch.equal(a.n_adv, b.n_adv)           # Φ began elsewhere
    rec, ok = warm.decrypt(a, key)
    assert all(ok)
    # a codec without the starts cannot regenerate these n_adv: it says so instead of producing other bits
    with pytest.raises(ValueError, match="class starts"):
        cold.decrypt(a, key)



@pytest.mark.parametrize("grid", [False, True], ids=["ric3", "ric4"])
def test_moving_starts_are_placed_by_key_and_nonce_and_decrypt(tiny_model, toy_classifier, key, grid):
    """Each image's start is its label's pattern placed by its own key and nonce: two images of one label start from
    differently placed patterns, and the decryptor places them alike (ric/3 regenerates Φ; ric/4 rebuilds ñ)."""
    starts = _fitted(toy_classifier, moves=SHIFT_FLIP)
    codec = RICCodec(tiny_model, toy_classifier, PHI, nonce_source=seeded_nonces(0), starts=starts, grid=grid)
    x = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    enc = codec.encrypt(x, key)
    assert enc.failed == [] and all(p.start_id == starts.digest for p in enc.phis)
    labels = torch.tensor(enc.labels)
    n0 = codec.start_noise(key, enc.nonces, labels, (3, 16, 16), enc.phis[0])
    noise = (n0 - 0.3 * place(starts.patterns[labels], starts.moves_for(key, enc.nonces, (3, 16, 16)))) / 0.7
    assert len({tuple(m) for m in starts.moves_for(key, enc.nonces, (3, 16, 16)).tolist()}) == 4
    from ric.noise import noise_image
    assert torch.allclose(noise, torch.stack([noise_image(key, n, (3, 16, 16)) for n in enc.nonces]), atol=1e-6)
    rec, ok = codec.decrypt(enc, key)
    assert all(ok)
    cold = RICCodec(tiny_model, toy_classifier, PHI, nonce_source=seeded_nonces(0), grid=grid)
    cold.know_starts(_fitted(toy_classifier))            # the same patterns, fixed: another digest
    with pytest.raises(ValueError, match="class starts"):
        cold.decrypt(enc, key)


def test_forward_only_step_0_runs_only_at_the_size_the_starts_were_fitted_at(tiny_model, toy_classifier, key,
                                                                               monkeypatch):
    """Where most images start past the margin (class starts at their own size) Φ's step 0 runs forward only
    first; at other sizes and without starts it would be one more forward pass for nothing. Same bits either way
    (tests/test_nae.py), so the choice is not stored."""
    import ric.schemes.paper.codec as codec_module
    seen = []
    real = codec_module.generate_nae
    monkeypatch.setattr(codec_module, "generate_nae", lambda c, n, y, phi, *a: seen.append(phi.step0) or real(c, n, y,
                                                                                                             phi, *a))
    starts = _fitted(toy_classifier, size=16)
    warm = RICCodec(tiny_model, toy_classifier, PHI, nonce_source=seeded_nonces(0), starts=starts)
    cold = RICCodec(tiny_model, toy_classifier, PHI, nonce_source=seeded_nonces(0))
    for codec, size in ((warm, 16), (warm, 24), (cold, 16)):
        enc = codec.encrypt(torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(size)), key)
        assert "step0" not in enc.phis[0].to_dict()
    assert seen[0] is True and set(seen[1:]) == {False}


def test_starts_for_another_view_are_refused(tiny_model, toy_classifier):
    with pytest.raises(ValueError, match="view"):
        RICCodec(tiny_model, toy_classifier, PHI, starts=_fitted(toy_classifier, view=1.0))


def _scheme(pair, **kw):
    return PaperScheme(hub.load_ric_model(pair["model"]), hub.load_classifier(pair["classifier"]),
                       phi=dataclasses.replace(FAST_PHI, chunk=4), nonce_source=seeded_nonces(1), **kw)


def _pictures(n=3):
    g = np.random.default_rng(0)
    return [g.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(n)]


def test_scheme_finds_the_starts_beside_the_classifier(toy_pair_copy, key):
    pair = toy_pair_copy
    assert _scheme(pair).codec.starts is None                      # none fitted yet
    clf = hub.load_classifier(pair["classifier"])
    starts = _fitted(clf.module, clf.identity)
    save_starts(starts, starts_path(pair["classifier"]))
    scheme = _scheme(pair)
    assert scheme.codec.starts.digest == starts.digest
    outs = scheme.encrypt(_pictures(), key)
    assert all(o.error is None for o in outs)
    parsed = [container.read(o.data) for o in outs]
    assert all(p.header.phi["start_id"] == starts.digest for p in parsed)
    got = list(_scheme(pair).decrypt(key, [_scheme(pair).prepare(key, p) for p in parsed]))
    assert all(o.error is None for _, o in got)
    # the same classifier without its starts file: refused before Φ runs, naming what is missing
    os.remove(starts_path(pair["classifier"]))
    with pytest.raises(ModelMismatchError, match="class starts .* none are loaded"):
        _scheme(pair).prepare(key, parsed[0])
    # and with starts fitted for it differently: refused, naming both
    save_starts(_fitted(clf.module, clf.identity, seed=7), starts_path(pair["classifier"]))
    with pytest.raises(ModelMismatchError, match="the loaded ones are"):
        _scheme(pair).prepare(key, parsed[0])
    # starts=None encrypts from the keyed noise alone (what older ciphertexts are), and those still decrypt
    plain = _scheme(pair, starts=None).encrypt(_pictures(1), key)[0]
    p = container.read(plain.data)
    assert "start" not in p.header.phi
    assert next(iter(_scheme(pair).decrypt(key, [_scheme(pair).prepare(key, p)])))[1].error is None


def test_starts_of_other_weights_are_a_load_error(toy_pair_copy):
    pair = toy_pair_copy
    clf = hub.load_classifier(pair["classifier"])
    save_starts(_fitted(clf.module, "someone-else@aaaaaaaaaaaa"), starts_path(pair["classifier"]))
    with pytest.raises(ModelLoadError, match="fitted for classifier someone-else"):
        hub.load_class_starts(clf)
