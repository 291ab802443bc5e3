"""The sealed coarse attack at the resolution the classifier sees (ric.schemes.sealed.resized): its linear model
of what each view sees, the clamp's known mean, and that the lifted levels reach the margin exactly, keep the
lock and decrypt bit for bit."""
import itertools

import numpy as np
import pytest
import torch
from conftest import ToyClassifier

from ric.classifiers.pipeline import Pipeline, WithPipeline, attack_module
from ric.lowpass import block_means
from ric.nae import margin_of
from ric.schemes.sealed import SealedCodec, resized
from ric.schemes.sealed.digits import BASE


def _classifier(**kw):
    return WithPipeline(Pipeline(32, 32, resampler="pil", views=[{"interpolation": "bicubic"}], **kw),
                        ToyClassifier()).eval()


def test_the_clamps_mean_shift_is_known():
    """Mean of clamp(n0 + δ, 0, 4) − n0 over n0 uniform in [0, 4], against a fine grid of n0."""
    n0 = torch.linspace(0, 4, 400_001)
    for d in (-4.0, -2.5, -0.3, 0.0, 0.7, 3.0, 4.0):
        want = ((n0 + d).clamp(0, 4) - n0).mean().item()
        assert abs(resized.clamped_shift(torch.tensor(d)).item() - want) < 1e-4


def test_the_linear_model_is_what_the_view_sees_of_an_offset():
    """A grid offset, upsampled to the photo and resized by the view (torch's antialiased filters), is the
    `_axis` maps applied to it: the model each step uses, exact up to float rounding."""
    import torch.nn.functional as F
    clf = _classifier()
    photo = torch.zeros(1, 3, 100, 130)
    grid = clf.pipeline.resized_size(100, 130)
    delta = torch.randn(1, 3, *grid, generator=torch.Generator().manual_seed(0))
    for (_, field, _), p in zip(resized.views_of(clf, photo, grid), clf.pipeline.variants()):
        up = F.interpolate(delta, size=(100, 130), mode="bilinear", align_corners=False)
        size = p.resized_size(100, 130)
        down = F.interpolate(up, size=size, mode=p.interpolation, antialias=True, align_corners=False)
        top, left = (size[0] - 32) // 2, (size[1] - 32) // 2
        torch.testing.assert_close(field(delta), down[..., top:top + 32, left:left + 32], rtol=0, atol=1e-4)


def test_applies_where_the_pipeline_shrinks_at_least_twice():
    clf = _classifier()
    assert resized.applies(clf, (3, 64, 90)) and not resized.applies(clf, (3, 63, 200))
    assert not resized.applies(ToyClassifier(), (3, 640, 640))       # no pipeline: the whole-image attack


def test_lifted_levels_reach_the_margin_exactly_and_keep_the_lock():
    clf = _classifier()
    g = torch.Generator().manual_seed(1)
    init = torch.rand(2, 3, 96, 120, generator=g)
    fine = torch.randint(0, BASE, (2, 3, 96, 120), generator=g).to(torch.uint8)
    target = torch.tensor([[1, 1], [2, 2]])
    lev, lifts, steps = resized.coarse_attack_resized(clf, fine, target, init, margin=2.0, max_steps=200, lock=8)
    assert lev.dtype == torch.uint8 and int(lev.max()) <= 4 and lifts.tolist() == [1, 1]
    with torch.no_grad():
        m = margin_of(attack_module(clf)((BASE * lev.float() + fine.float()) / 255), target)
    assert (m >= 2.0).all() and (steps < 200).all()
    # the lock: 8 grid pixels are 24 photo pixels here (96 / 32); block means stay the start's up to rounding
    drift = (block_means(lev.float(), 24) - block_means(4 * init, 24)).abs().max()
    assert drift < 0.5


def test_a_codec_behind_a_shrinking_pipeline_uses_it_and_decrypts_bit_for_bit(key, monkeypatch):
    calls = []
    real = resized.coarse_attack_resized
    monkeypatch.setattr(resized, "coarse_attack_resized", lambda *a, **k: calls.append(1) or real(*a, **k))
    clf = _classifier()
    count = itertools.count()
    codec = SealedCodec(clf, nonce_source=lambda: next(count).to_bytes(16, "big"), seed=0)
    rng = np.random.default_rng(0)
    images = [np.kron(rng.integers(0, 256, (6, 8, 3)), np.ones((16, 16, 1))).astype(np.uint8) for _ in range(2)]
    res = codec.encrypt(images, key)
    assert not res.errors and calls == [1] and [i["lift"] for i in res.info] == [1, 1]   # recorded per image
    with torch.inference_mode():
        from ric.io.tensors import to_float
        want = attack_module(clf)(to_float(images)).argmax(-1)
        got = attack_module(clf)(to_float(res.cipher)).argmax(-1)
    assert torch.equal(got, want)
    assert all(np.array_equal(SealedCodec.decrypt(c, key), x) for c, x in zip(res.cipher, images))


def test_below_the_shrink_the_whole_image_attack_runs(key, monkeypatch):
    monkeypatch.setattr(resized, "coarse_attack_resized", lambda *a, **k: pytest.fail("not at this size"))
    count = itertools.count()
    codec = SealedCodec(_classifier(), nonce_source=lambda: next(count).to_bytes(16, "big"), seed=0)
    img = np.kron(np.random.default_rng(1).integers(0, 256, (5, 5, 3)), np.ones((8, 8, 1))).astype(np.uint8)
    res = codec.encrypt([img], key)
    assert not res.errors and np.array_equal(SealedCodec.decrypt(res.cipher[0], key), img)


def test_a_lift_that_falls_short_is_pushed_further_and_lifted_again(monkeypatch):
    """The first lift is made to fall short: δ goes on (BAND further) and the second lift is kept, without the
    whole-image attack."""
    clf = _classifier()
    g = torch.Generator().manual_seed(2)
    init = torch.rand(1, 3, 96, 96, generator=g)
    fine = torch.randint(0, BASE, (1, 3, 96, 96), generator=g).to(torch.uint8)
    goals, lifts = [], []
    real_push, real_lift = resized._push, resized._lift
    monkeypatch.setattr(resized, "_push", lambda *a, **k: goals.append(a[6]) or real_push(*a, **k))

    def lift(*a, **k):
        lev, ok = real_lift(*a, **k)
        lifts.append(bool(ok[0]))
        return lev, ok & (len(lifts) > 1)
    monkeypatch.setattr(resized, "_lift", lift)
    lev, got, steps = resized.coarse_attack_resized(clf, fine, torch.tensor([1]), init, 2.0, 200, 8)
    assert goals == [2.0 + resized.BAND, 2.0 + 2 * resized.BAND] and lifts == [True, True]
    assert got.tolist() == [2] and steps[0] > 0


def test_where_no_lift_reaches_the_margin_the_whole_image_attack_finishes(key, monkeypatch):
    """Every lift made to fall short: the codec goes on with the whole-image attack from the lifted levels, records
    lift 0, and the ciphertext is still labelled as aimed and decrypts bit for bit."""
    real = resized.coarse_attack_resized

    def never(*a, **k):
        lev, lifts, steps = real(*a, **k)
        return lev, torch.zeros_like(lifts), steps
    monkeypatch.setattr(resized, "coarse_attack_resized", never)
    clf = _classifier()
    count = itertools.count()
    codec = SealedCodec(clf, nonce_source=lambda: next(count).to_bytes(16, "big"), seed=0)
    img = np.kron(np.random.default_rng(3).integers(0, 256, (6, 8, 3)), np.ones((16, 16, 1))).astype(np.uint8)
    res = codec.encrypt([img], key)
    assert not res.errors and res.info[0]["lift"] == 0
    from ric.io.tensors import to_float
    with torch.inference_mode():
        views = attack_module(clf)
        assert torch.equal(views(to_float(res.cipher)).argmax(-1), views(to_float([img])).argmax(-1))
    assert np.array_equal(SealedCodec.decrypt(res.cipher[0], key), img)
