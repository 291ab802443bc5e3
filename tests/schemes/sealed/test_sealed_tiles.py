"""The sealed scheme at photo sizes: above `tile_above` pixels the classifier runs in tiles; still bit-exact."""
import numpy as np
import torch

from ric.classifiers.tiling import TiledClassifier
from ric.hub import load_classifier
from ric.keys import Key, seeded_nonces
from ric.schemes.sealed.codec import SealedCodec
from ric.schemes.sealed.stream import open_sealed_pixels
from ric.tiles import TILE_ABOVE

KEY = Key(bytes(range(32)))


def _images(n=2, h=40, w=36):
    yy, xx = np.mgrid[0:h, 0:w]
    return [np.stack([yy * (4 + i), xx * 6, (yy + xx) * (2 + i)], -1).clip(0, 255).astype(np.uint8)
            for i in range(n)]


def test_tiled_sealed_encryption_is_lossless_and_keeps_the_label(toy_pair):
    clf = load_classifier(toy_pair["classifier"]).module
    codec = SealedCodec(clf, device="cpu", nonce_source=seeded_nonces(3), seed=3, tile=16, tile_above=256)
    assert isinstance(codec.classifier_for((3, 40, 36)), TiledClassifier)
    assert codec.classifier_for((3, 16, 16)) is codec.classifier
    assert codec.config_for((3, 40, 36)).payload_samples == 1 and codec.config_for((3, 16, 16)) == codec.cfg
    res = codec.encrypt(_images(), KEY)
    assert res.errors == {}
    for c, im, lab in zip(res.cipher, _images(), res.labels):
        assert np.array_equal(open_sealed_pixels(KEY, c), im)
        x = torch.from_numpy(c).permute(2, 0, 1)[None].float() / 255
        assert int(clf(x).argmax(1)) == lab          # the cloud's whole-image classifier gives the label


def test_default_threshold_leaves_small_images_whole(toy_pair):
    codec = SealedCodec(load_classifier(toy_pair["classifier"]).module)
    assert codec.tile and codec.tile_above == TILE_ABOVE
    assert codec.classifier_for((3, 1024, 1024)) is codec.classifier
