"""Format ric/4 (ric.schemes.paper.portable): n_adv on a grid around Φ's start, D's rounding ties and a digest of the
recovered image, sealed under the key. Known answers for the pieces; the whole through the scheme: a decoder that
differs from the encryptor's by less than the tie tolerance gives the same bytes, one that differs by more is refused
(exit 10, nothing written) and names the encryptor's platform."""
import itertools
import os
import shutil

import numpy as np
import pytest
import torch
from png_support import chunks_of, rebuild

from ric.cli import main
from ric.hub import load_classifier, load_ric_model
from ric.keys import Key
from ric.schemes.container import read
from ric.schemes.paper import portable
from ric.schemes.paper.codec import RICCodec
from ric.schemes.paper.scheme import PaperScheme

GOLDEN = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "golden", "paper_v4")


def test_snap_puts_n_adv_on_the_grid_around_its_start():
    n0 = torch.tensor([0.25, 0.5, 0.999, 0.001])
    n_adv = torch.tensor([0.25, 0.5 + 3 / 256 + 1e-4, 1.0, 0.0])
    q, on = portable.snap(n0, n_adv, 8)
    assert q.tolist() == [0, 3, 0, 0]
    assert torch.equal(on, portable.on_grid(n0, q, 8))
    assert on.tolist() == pytest.approx([0.25, 0.5 + 3 / 256, 0.999, 0.001])
    far = portable.snap(torch.tensor([0.9]), torch.tensor([0.0]), 8)
    assert far[0].tolist() == [-230] and far[1].tolist() == [pytest.approx(0.9 - 230 / 256, abs=1e-6)]


def test_ties_are_the_levels_near_a_half_and_round_as_stored():
    t = torch.tensor([[[10.5 - 1e-3, 10.5 + 1e-3, 10.4, 254.6, 0.0, 3.5]]], dtype=torch.float64)
    pos, up = portable.find_ties(t)
    assert pos.tolist() == [0, 1, 5] and up.tolist() == [False, True, True]      # 3.5 rounds half to even: 4
    shifted = t + torch.tensor([[[2e-3, -2e-3, 0, 0, 0, -1e-3]]], dtype=torch.float64)   # another machine's D
    assert portable.round_levels(shifted, pos, up).ravel().tolist() == [10, 11, 10, 255, 0, 4]
    assert portable.round_levels(shifted, pos[:0], up[:0]).ravel().tolist() == [11, 10, 10, 255, 0, 3]


def test_pack_and_unpack_are_inverse_and_refuse_what_is_not_a_body():
    g = torch.Generator().manual_seed(0)
    q = torch.randint(-300, 300, (3, 5, 7), generator=g, dtype=torch.int16) * (torch.rand(3, 5, 7, generator=g) > .8)
    pos, up = np.array([0, 9, 10, 104]), np.array([True, False, False, True])
    q2, pos2, up2, grid = portable.unpack(portable.pack(q, pos, up, 8), (3, 5, 7))
    assert torch.equal(q2, q) and pos2.tolist() == pos.tolist() and up2.tolist() == up.tolist() and grid == 8
    body = portable.pack(q, pos, up)
    for bad in (body[:5], b"\x02" + body[1:], body[:-1], portable.pack(q, np.array([105]), np.array([True]))):
        with pytest.raises(ValueError):
            portable.unpack(bad, (3, 5, 7))
    with pytest.raises(ValueError):
        portable.unpack(body, (3, 5, 8))


@pytest.fixture(scope="module")
def scheme():
    ctr = itertools.count()
    return PaperScheme(load_ric_model("cifar10"), load_classifier("cifar10"),
                       nonce_source=lambda: next(ctr).to_bytes(16, "big"))


@pytest.fixture(scope="module")
def encrypted(scheme):
    from ric.demo import SAMPLES
    from ric.io.images import load_image
    key = Key(bytes(range(32)))
    images = [load_image(os.path.join(SAMPLES, n)) for n in ("cat_03897.png", "ship_08055.png")]
    return key, scheme.encrypt(images, key)


def _decrypt(scheme, key, outcomes):
    return dict(scheme.decrypt(key, [scheme.prepare(key, read(o.data)) for o in outcomes]))


def test_ric4_is_written_by_default_and_records_its_platform(encrypted):
    key, outs = encrypted
    hd = read(outs[0].data).header
    assert (hd.format, hd.device, hd.torch) == ("ric/4", "cpu", torch.__version__)
    assert hd.cpu == torch.backends.cpu.get_cpu_capability() and hd.nadv


def test_a_decoder_within_the_tie_tolerance_gives_the_same_bytes(scheme, encrypted, monkeypatch):
    key, outs = encrypted
    here = _decrypt(scheme, key, outs)
    real = RICCodec.decode_float
    monkeypatch.setattr(RICCodec, "decode_float", lambda *a, **k: real(*a, **k) + portable.TIE / 4 / 255)
    there = _decrypt(scheme, key, outs)
    assert all(o.error is None for o in here.values())
    assert [here[i].data for i in sorted(here)] == [there[i].data for i in sorted(there)]


def test_a_decoder_beyond_the_tolerance_is_refused_naming_the_encryptors_platform(scheme, encrypted, monkeypatch):
    key, outs = encrypted
    real = RICCodec.decode_float
    monkeypatch.setattr(RICCodec, "decode_float", lambda *a, **k: real(*a, **k) + 0.3 / 255)
    errors = [o.error for o in _decrypt(scheme, key, outs).values()]
    assert all(e is not None and e.exit_code == 10 for e in errors)
    assert "ATen CPU capability " + torch.backends.cpu.get_cpu_capability() in str(errors[0])


def test_a_changed_n_adv_chunk_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(os.path.join(GOLDEN, "golden.key"), "k.key")
    os.chmod("k.key", 0o600)
    data = open(os.path.join(GOLDEN, "ric4_mask_cat_03897.png"), "rb").read()
    parts = chunks_of(data)
    for drop in (True, False):
        out = [(t, b if t != b"rcNa" else bytes([b[0] ^ 1]) + b[1:]) for t, b in parts if not (drop and t == b"rcNa")]
        open("x.png", "wb").write(rebuild(out))
        assert main(["decrypt", "--key", "k.key", "--out", "dec", "-q", "x.png"]) == (5 if drop else 7)
        assert not os.path.exists("dec/x.png")
