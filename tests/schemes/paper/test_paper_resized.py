"""Φ at the classifier's resolution for format ric/4 behind a shrinking pipeline (ric.schemes.paper.resized): the
clamp's known mean, when it runs and is recorded, that the ciphertext is labelled as aimed, and that it decrypts."""
import dataclasses
import itertools

import torch
from conftest import FAST_PHI, ToyClassifier

import ric.schemes.paper.codec as paper_codec
from ric.classifiers.pipeline import Pipeline, WithPipeline, attack_module
from ric.hub import load_ric_model
from ric.keys import Key
from ric.nae import PhiConfig
from ric.schemes.paper import resized
from ric.schemes.paper.codec import RICCodec

PHI = dataclasses.replace(FAST_PHI, margin=2.0)
KEY = Key(bytes(range(32)))


def _classifier():
    return WithPipeline(Pipeline(32, 32, resampler="pil", views=[{"interpolation": "bicubic"}]),
                        ToyClassifier()).eval()


def _codec(toy_pair, grid=True):
    count = itertools.count()
    return RICCodec(load_ric_model(toy_pair["model"]).module, _classifier(), PHI, "cpu", grid=grid,
                    nonce_source=lambda: next(count).to_bytes(16, "big"))


def _photos(n=2, h=96, w=128):
    x = torch.rand(n, 3, h // 16, w // 16, generator=torch.Generator().manual_seed(4))
    return torch.nn.functional.interpolate(x, size=(h, w), mode="nearest")


def test_the_clamps_mean_shift_is_known():
    """Mean of clamp(n0 + δ, 0, 1) − n0 over n0 uniform in [0, 1], against a fine grid of n0."""
    n0 = torch.linspace(0, 1, 400_001)
    for d in (-1.0, -0.6, -0.1, 0.0, 0.2, 0.75, 1.0):
        want = ((n0 + d).clamp(0, 1) - n0).mean().item()
        assert abs(resized.clamped_shift(torch.tensor(d)).item() - want) < 1e-5


def test_the_setting_is_stored_only_when_used():
    assert "resized" not in PhiConfig().to_dict()
    on = dataclasses.replace(PhiConfig(), resized=True)
    assert on.to_dict()["resized"] is True and PhiConfig.from_dict(on.to_dict()) == on
    assert PhiConfig.from_dict(PhiConfig().to_dict()).resized is False


def test_ric4_behind_a_shrinking_pipeline_runs_phi_at_the_classifiers_resolution(toy_pair, monkeypatch):
    calls = []
    real = resized.phi_resized
    monkeypatch.setattr(paper_codec, "phi_resized", lambda *a, **k: calls.append(1) or real(*a, **k))
    codec = _codec(toy_pair)
    x = _photos()
    enc = codec.encrypt(x, KEY)
    assert enc.failed == [] and calls == [1] and all(p.resized and p.to_dict()["resized"] for p in enc.phis)
    views = attack_module(codec.classifier)
    with torch.inference_mode():
        got = views(enc.cipher.permute(0, 3, 1, 2).float() / 255).argmax(-1)
    assert torch.equal(got, torch.tensor(enc.aims).view_as(got))
    # in-memory decryption regenerates exactly what the ciphertext was made from (same machine, same bits)
    assert torch.equal(codec.regenerate(KEY, enc.nonces, enc.aims, tuple(x.shape[1:]), enc.phis), enc.n_adv)
    rec, ok = codec.decrypt(enc, KEY)
    assert all(ok) and torch.equal(rec, codec.decode(enc.cipher, enc.n_adv, KEY, enc.nonces))


def test_ric3_and_small_images_keep_the_whole_image_phi(toy_pair, monkeypatch):
    monkeypatch.setattr(paper_codec, "phi_resized", lambda *a, **k: (_ for _ in ()).throw(AssertionError))
    assert not _codec(toy_pair, grid=False)._phi_for((2, 3, 96, 128)).resized     # ric/3 regenerates Φ
    enc = _codec(toy_pair).encrypt(_photos(h=48, w=48), KEY)                     # shrinks 1.5×: whole image
    assert enc.failed == [] and not any(p.resized for p in enc.phis)


def test_where_no_lift_reaches_the_margin_the_whole_image_phi_finishes(toy_pair, monkeypatch):
    real, real_whole = resized.phi_resized, paper_codec.generate_nae
    whole = []

    def never(*a, **k):
        n, lifts, steps = real(*a, **k)
        return n, torch.zeros_like(lifts), steps
    monkeypatch.setattr(paper_codec, "phi_resized", never)
    monkeypatch.setattr(paper_codec, "generate_nae", lambda *a, **k: whole.append(len(a[1])) or real_whole(*a, **k))
    codec = _codec(toy_pair)
    enc = codec.encrypt(_photos(n=1), KEY)
    assert enc.failed == [] and whole == [1]
    views = attack_module(codec.classifier)
    with torch.inference_mode():
        got = views(enc.cipher.permute(0, 3, 1, 2).float() / 255).argmax(-1).view(-1)
    assert torch.equal(got, torch.tensor(enc.aims).view(-1))

