"""The sealed scheme gives each file back in its own mode (L, LA, P, RGB, RGBA), pixel for pixel."""
import os

import numpy as np
import pytest
from PIL import Image

from ric.cli import main
from ric.hub import Loaded
from ric.keys import Key, seeded_nonces
from ric.schemes.sealed.payload import decode_image
from ric.schemes.sealed.scheme import SealedScheme
from ric.schemes.sealed.stream import open_sealed_payload


def picture(mode: str, size: int = 24) -> Image.Image:
    yy, xx = np.mgrid[0:size, 0:size]
    rgb = np.stack([yy * 10, xx * 10, (yy + xx) * 5], -1).clip(0, 255).astype(np.uint8)
    alpha = (xx * 10).clip(0, 255).astype(np.uint8)
    if mode == "RGBA":
        return Image.fromarray(np.dstack([rgb, alpha]), "RGBA")
    if mode == "LA":
        return Image.fromarray(np.dstack([rgb[..., 0], alpha]), "LA")
    if mode == "P":
        return Image.fromarray(rgb).quantize(16)
    return Image.fromarray(rgb).convert(mode)


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGB", "RGBA"])
def test_mode_and_pixels_come_back_exactly(toy_classifier, mode):
    key = Key(bytes(range(32)))
    im = picture(mode)
    rgb = np.asarray(im.convert("RGB"))
    scheme = SealedScheme(Loaded(toy_classifier, "toy"), margin=0.5, nonce_source=seeded_nonces(1), seed=1)
    (o,) = scheme.encrypt([rgb], key, originals=[im])
    assert o.error is None
    from ric.schemes.container import read
    back = decode_image(*open_sealed_payload(key, read(o.data).pixels))
    assert back.mode == im.mode and np.array_equal(np.asarray(back), np.asarray(im))
    if mode == "P":
        assert back.getpalette() == im.getpalette()


def test_through_the_cli_files_keep_their_mode(tmp_path, monkeypatch, toy_classifier):
    monkeypatch.chdir(tmp_path)
    os.makedirs("plain")
    for mode in ("L", "P", "RGBA"):
        picture(mode).save(f"plain/{mode}.png")
    assert main(["keygen", "k.key"]) == 0
    from ric import hub
    monkeypatch.setattr(hub, "load_classifier", lambda spec, device="cpu": Loaded(toy_classifier, "toy"))
    assert main(["encrypt", "--scheme", "sealed", "--key", "k.key", "--out", "enc", "plain", "--margin", "0.5",
                 "-q"]) == 0
    assert main(["decrypt", "--key", "k.key", "--out", "dec", "enc", "-q"]) == 0
    for mode in ("L", "P", "RGBA"):
        a, b = Image.open(f"plain/{mode}.png"), Image.open(f"dec/{mode}.png")
        assert b.mode == a.mode and np.array_equal(np.asarray(a), np.asarray(b))
