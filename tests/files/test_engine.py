"""ric.files.engine: files in, files out; per-image Φ settings and the mixing travel in each ciphertext's header."""
import os

import numpy as np
import pytest
from PIL import Image

from ric.files.engine import decrypt_files, encrypt_files
from ric.hub import Loaded
from ric.nae import PhiConfig
from ric.schemes import container
from ric.schemes.paper.scheme import PaperScheme


@pytest.fixture
def files(tmp_path, images):
    paths = []
    for i, x in enumerate(images):
        p = tmp_path / f"im{i}.png"
        Image.fromarray((x.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(p)
        paths.append(str(p))
    return tmp_path, paths


@pytest.mark.parametrize("mix", ["perm-sign/1", "none"])
def test_escalated_images_decrypt_from_their_headers(tiny_model, toy_classifier, key, files, mix):
    tmp, paths = files
    scheme = PaperScheme(Loaded(tiny_model, "toy"), Loaded(toy_classifier, "clf"),
                         phi=PhiConfig(lr=0.1, max_steps=1, margin=40.0, chunk=4), mix=mix)
    res = encrypt_files(scheme, key, paths, str(tmp / "enc"), show_progress=False)
    assert all(r.error is None for r in res) and scheme.stats["nae_retries"] > 0
    headers = [container.read_ciphertext(r.out)[1] for r in res]
    assert {h.phi["max_steps"] for h in headers} - {1} and {h.mix for h in headers} == {mix}
    dec = decrypt_files(scheme, key, [r.out for r in res], str(tmp / "dec"), show_progress=False)
    assert all(r.error is None for r in dec), [str(r.error) for r in dec]
    for p, r in zip(paths, dec):
        a = np.asarray(Image.open(p)).astype(int)
        b = np.asarray(Image.open(r.out)).astype(int)
        assert a.shape == b.shape and os.path.basename(r.out) == os.path.basename(p)
