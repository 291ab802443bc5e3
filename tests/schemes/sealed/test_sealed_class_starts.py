"""The sealed scheme's coarse attack from class starts: lossless as before, nothing to record, and the right view."""
import numpy as np
import pytest
import torch

from ric.hub import Loaded
from ric.keys import Key, seeded_nonces
from ric.schemes.container import read
from ric.schemes.sealed.coarse import COARSE_VIEW
from ric.schemes.sealed.codec import SealedCodec
from ric.schemes.sealed.scheme import SealedScheme
from ric.schemes.sealed.stream import open_sealed_pixels
from ric.starts import SHIFT_FLIP, ClassStarts, fit_starts


def _starts(classifier, view=0.8, moves=""):
    p, _ = fit_starts(classifier, (3, 24, 24), 0.3, view, 0.5, steps=10, per_class=2, moves=moves)
    return ClassStarts(p, 0.3, view, "toy@0123456789ab", moves=moves)


def _images(n=4, size=24):
    """Smooth pictures (the sealed payload holds a compressed image: noise would not fit)."""
    yy, xx = np.mgrid[0:size, 0:size]
    return [np.stack([yy * (4 + i), xx * 6, (yy + xx) * (2 + i)], -1).clip(0, 255).astype(np.uint8)
            for i in range(n)]


def test_coarse_view_is_lambda():
    assert COARSE_VIEW == pytest.approx(0.8)


@pytest.mark.parametrize("moves", ["", SHIFT_FLIP], ids=["fixed", "moving"])
def test_sealed_from_class_starts_is_lossless_and_begins_elsewhere(toy_classifier, moves):
    key = Key(bytes(range(32)))
    starts = _starts(toy_classifier, moves=moves)
    kw = dict(margin=0.5, nonce_source=seeded_nonces(4), seed=4)
    warm = SealedScheme(Loaded(toy_classifier, "toy"), starts=starts, **kw).encrypt(_images(), key)
    cold = SealedScheme(Loaded(toy_classifier, "toy"), starts=None, **kw).encrypt(_images(), key)
    assert all(o.error is None for o in warm + cold)
    for o, im in zip(warm, _images()):
        assert np.array_equal(open_sealed_pixels(key, read(o.data).pixels), im)   # bit-exact, key alone
    assert any(a.data != b.data for a, b in zip(warm, cold))                    # the coarse part began elsewhere
    if moves:   # the same patterns held still begin elsewhere again: each image's placement is its key's
        still = ClassStarts(starts.patterns, 0.3, 0.8, "toy@0123456789ab")
        fixed = SealedScheme(Loaded(toy_classifier, "toy"), starts=still, **kw).encrypt(_images(), key)
        assert any(a.data != b.data for a, b in zip(warm, fixed))


def test_starts_for_another_view_are_refused(toy_classifier):
    with pytest.raises(ValueError, match="view"):
        SealedCodec(toy_classifier, starts=_starts(toy_classifier, view=1.0))


def test_auto_without_a_weights_file_means_none(toy_classifier):
    assert SealedScheme(Loaded(toy_classifier, "toy")).codec.starts is None
    assert torch.is_tensor(_starts(toy_classifier).patterns)
