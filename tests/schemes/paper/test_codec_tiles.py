"""The paper codec at photo sizes: above `tile_above` pixels it tiles, records the tile side, and decrypts exactly."""
import dataclasses
import io

import numpy as np
import pytest
import torch
from conftest import FAST_PHI
from PIL import Image

from ric.hub import load_classifier, load_ric_model
from ric.keys import Key, seeded_nonces
from ric.schemes.container import read
from ric.schemes.paper.codec import RICCodec
from ric.schemes.paper.scheme import PaperScheme

KEY = Key(bytes(range(32)))


@pytest.fixture
def pair(toy_pair):
    return load_ric_model(toy_pair["model"]), load_classifier(toy_pair["classifier"])


def _codec(pair, tile, above=256, **kw):
    model, clf = pair
    return RICCodec(model.module, clf.module, FAST_PHI, "cpu", nonce_source=seeded_nonces(7), tile=tile,
                    tile_above=above, **kw)


def _images(n=2, h=40, w=36):
    return torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(5))


def test_large_images_are_tiled_and_the_tile_is_recorded(pair):
    codec = _codec(pair, 16)
    enc = codec.encrypt(_images(), KEY)
    assert enc.failed == [] and all(p.tile == 16 and p.to_dict()["tile"] == 16 for p in enc.phis)
    small = codec.encrypt(_images(h=16, w=16), KEY)          # 256 pixels: not above, whole image as before
    assert all(p.tile == 0 and "tile" not in p.to_dict() for p in small.phis)


@pytest.mark.slow
def test_tiled_ciphertexts_regenerate_exactly_whatever_the_decryptor_tiles(pair):
    enc = _codec(pair, 16).encrypt(_images(), KEY)
    for dec in (_codec(pair, 16), _codec(pair, 0), _codec(pair, 24)):   # Φ follows the recorded tile side
        rec, ok = dec.decrypt(enc, KEY)
        assert all(ok) and rec.shape == (2, 40, 36, 3)
    untiled = dataclasses.replace(enc, phis=[dataclasses.replace(p, tile=0) for p in enc.phis])
    _, ok = _codec(pair, 16).decrypt(untiled, KEY)
    assert not all(ok)   # Φ's bits depend on the tiling (an image done at step 0 would match): the side must be kept


def test_tiled_decoding_matches_the_whole_image(pair):
    enc = _codec(pair, 16).encrypt(_images(), KEY)
    rec_tiled, _ = _codec(pair, 16).decrypt(enc, KEY)
    rec_whole, _ = _codec(pair, 16, above=10 ** 9).decrypt(enc, KEY)   # Φ tiled (recorded), F/E/D whole
    assert int((rec_tiled.int() - rec_whole.int()).abs().max()) <= 1


@pytest.mark.slow
def test_the_paper_scheme_stores_the_tile_in_the_header(pair, tmp_path):
    model, clf = pair
    scheme = PaperScheme(model, clf, phi=FAST_PHI, nonce_source=seeded_nonces(8), starts=None)
    scheme.codec.tile, scheme.codec.tile_above = 16, 256
    pix = (np.random.default_rng(0).random((40, 36, 3)) * 255).astype(np.uint8)
    (out,) = scheme.encrypt([pix], KEY)
    assert out.error is None
    parsed = read(out.data)
    assert parsed.header.phi["tile"] == 16
    (_, got), = scheme.decrypt(KEY, [scheme.prepare(KEY, parsed)])
    assert got.error is None and Image.open(io.BytesIO(got.data)).size == (36, 40)


def test_networks_are_tiled_behind_a_classifier_that_is_not(pair):
    """A resizing pipeline is not tiled (it sees the whole image), but F, E and D still are: their activations
    never span a whole photo. The recovered pixels are those of the untiled networks, up to one level."""
    from conftest import ToyClassifier

    from ric.classifiers.pipeline import Pipeline, WithPipeline
    from ric.nets.tiling import TiledRIC
    model, _ = pair
    behind = WithPipeline(Pipeline(32, 32), ToyClassifier()).eval()
    codec = RICCodec(model.module, behind, FAST_PHI, "cpu", nonce_source=seeded_nonces(7), tile=16, tile_above=256)
    assert codec.tile_for((40, 36)) == 0                         # the classifier: whole image
    assert isinstance(codec._nets((1, 3, 40, 36)), TiledRIC)     # the networks: tiles of 16
    assert codec._nets((1, 3, 16, 16)) is codec.model            # not above tile_above: whole
    enc = codec.encrypt(_images(), KEY)
    assert enc.failed == []
    rec, ok = codec.decrypt(enc, KEY)
    whole = RICCodec(model.module, behind, FAST_PHI, "cpu", tile=16, tile_above=10 ** 9)
    rec_whole, _ = whole.decrypt(enc, KEY)
    assert all(ok) and int((rec.int() - rec_whole.int()).abs().max()) <= 1
