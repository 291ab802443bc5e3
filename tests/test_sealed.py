import io
import os

import numpy as np
import pytest
import torch
from PIL import Image

from ric import container, sealed
from ric.errors import TamperedPixelsError, WrongKeyError
from ric.keys import Key
from ric.sealed import (BASE, BLOCK_BYTES, CapacityError, SealedCodec, SealedConfig, bytes_to_digits,
                        capacity_bytes, coarse_attack, digits_to_bytes, open_sealed_pixels)

from conftest import ToyClassifier


def smooth_images(n, h=16, w=16, seed=0):
    """Gradients with a little texture: compressible like photos, unlike uniform noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    out = []
    for _ in range(n):
        a = rng.uniform(0, 1, (3, 3))
        img = np.stack([a[c, 0] * yy + a[c, 1] * xx + a[c, 2] * 0.3 for c in range(3)], -1)
        out.append(np.clip(img * 200 + rng.integers(0, 3, img.shape), 0, 255).astype(np.uint8))
    return out


@pytest.fixture
def codec():
    return SealedCodec(ToyClassifier().eval(), SealedConfig(max_steps=200))


def test_digit_packing_roundtrip_and_known_answers():
    data = os.urandom(BLOCK_BYTES * 5)
    d = bytes_to_digits(data, 5 * 10 + 7)
    assert d.max() < BASE and len(d) == 57
    assert digits_to_bytes(d, 5) == data
    one = bytes_to_digits((1).to_bytes(7, "big"), 10)
    assert one.tolist() == [1] + [0] * 9                        # least significant digit first
    v = 51 ** 5 + 2 * 51 + 3
    assert bytes_to_digits(v.to_bytes(7, "big"), 10).tolist()[:6] == [3, 2, 0, 0, 0, 1]
    top = bytes_to_digits(b"\xff" * 7, 10)                      # 2**56 - 1, by hand
    assert sum(int(x) * 51 ** i for i, x in enumerate(top)) == 2 ** 56 - 1
    assert digits_to_bytes(np.full(10, 50, dtype=np.uint8), 1) is None   # 51**10 - 1 >= 2**56


def test_capacity_known_answers():
    assert capacity_bytes(32, 32) == 2149      # 3072 digits = 307 blocks of 7 bytes (+2 filler digits)
    assert capacity_bytes(160, 160) == 53760
    assert capacity_bytes(1, 3) == 0 and capacity_bytes(1, 4) == 7


def test_bit_exact_roundtrip_and_label_kept(codec):
    key = Key.generate()
    imgs = smooth_images(4)
    res = codec.encrypt(imgs, key)
    assert res.errors == {}
    for c, x in zip(res.cipher, imgs):
        assert c.dtype == np.uint8 and c.shape == x.shape
        assert np.array_equal(open_sealed_pixels(key, c), x)
        assert (c // BASE).max() <= 4
    with torch.no_grad():
        cls = ToyClassifier().eval()
        got = cls(torch.from_numpy(np.stack(res.cipher)).permute(0, 3, 1, 2).float() / 255).argmax(1).tolist()
        want = cls(torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float() / 255).argmax(1).tolist()
    assert got == want == res.labels


def test_wrong_key_and_tampering(codec):
    key = Key.generate()
    c = codec.encrypt(smooth_images(1), key).cipher[0]
    with pytest.raises(WrongKeyError):
        open_sealed_pixels(Key.generate(), c)
    bad = c.copy()
    flat = bad.reshape(-1)
    i = 300                                    # a payload digit, past the header (first 30 digits)
    flat[i] = flat[i] - 1 if flat[i] % BASE else flat[i] + 1
    with pytest.raises(TamperedPixelsError):
        open_sealed_pixels(key, bad)


def test_same_plaintext_twice_gives_unrelated_ciphertexts(codec):
    key = Key.generate()
    img = smooth_images(1)
    a, b = codec.encrypt(img, key).cipher[0], codec.encrypt(img, key).cipher[0]
    assert (a % BASE != b % BASE).mean() > 0.9


def test_stripped_metadata_still_decrypts(codec, tmp_path):
    key = Key.generate()
    img = smooth_images(1)[0]
    c = codec.encrypt([img], key).cipher[0]
    full = container.encode_sealed_png(c)
    assert container.sniff(full)[0] == "sealed"
    buf = io.BytesIO()
    Image.fromarray(c).save(buf, format="PNG")         # no metadata at all
    scheme, pix, _ = container.sniff(buf.getvalue())
    assert scheme == "sealed" and np.array_equal(open_sealed_pixels(key, pix), img)


def test_capacity_edge_and_lossy_fallback(codec):
    key = Key.generate()
    noise = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)  # incompressible
    res = codec.encrypt([noise], key)
    err = res.errors[0]
    assert isinstance(err, CapacityError)
    assert "16x16" in str(err) and f"carries {capacity_bytes(16, 16) - 38}" in str(err)
    res = codec.encrypt([noise], key, lossy_fallback=True)
    assert res.errors == {}
    assert res.info[0]["codec"] == sealed.CODEC_WEBP_LOSSY and 0 < res.info[0]["lossy_psnr"] < 60
    assert open_sealed_pixels(key, res.cipher[0]).shape == noise.shape


def test_exact_fit_boundary(monkeypatch):
    """A payload of exactly the room fits; one byte more does not."""
    room = capacity_bytes(16, 16) - sealed.HEADER_BYTES - sealed.TAG_BYTES - 4
    for size, fits in ((room, True), (room + 1, False)):
        monkeypatch.setattr(sealed, "_encode", lambda px, codec, q=100, n=size: b"\x00" * n)
        if fits:
            stream, info = sealed.seal_stream(Key.generate(), np.zeros((16, 16, 3), np.uint8), bytes(12))
            assert len(stream) == capacity_bytes(16, 16) and info["payload_bytes"] == room
        else:
            with pytest.raises(CapacityError):
                sealed.seal_stream(Key.generate(), np.zeros((16, 16, 3), np.uint8), bytes(12))


def test_coarse_attack_is_deterministic_for_a_seed():
    clf = ToyClassifier().eval()
    for p in clf.parameters():
        p.requires_grad_(False)
    fine = torch.randint(0, BASE, (2, 3, 16, 16), generator=torch.Generator().manual_seed(0))
    init = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    target = torch.tensor([1, 2])
    runs = [coarse_attack(clf, fine, target, init, SealedConfig(max_steps=50), torch.Generator().manual_seed(5))
            for _ in range(2)]
    assert torch.equal(runs[0][0], runs[1][0]) and torch.equal(runs[0][2], runs[1][2])
    assert runs[0][0].max() <= 4


def test_not_a_sealed_ciphertext():
    rng = np.random.default_rng(1)
    plain = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    assert not sealed.is_sealed(plain)
    with pytest.raises(sealed.NotSealedError):
        open_sealed_pixels(Key.generate(), plain)


def test_sealed_config_reads_classifier_metadata_then_margin():
    from ric.engine import sealed_config
    from ric.hub import Loaded
    plain = Loaded(ToyClassifier(), "toy")
    assert sealed_config(plain) == SealedConfig()
    assert sealed_config(plain, margin=2).margin == 2.0
    tuned = Loaded(ToyClassifier(), "toy", meta={"sealed_encrypt": '{"margin": 1.5, "lr": 0.3, "max_steps": 80, '
                                                                      '"payload_samples": 2, "unknown": 1}'})
    cfg = sealed_config(tuned)
    assert (cfg.margin, cfg.lr, cfg.max_steps, cfg.payload_samples) == (1.5, 0.3, 80, 2)
    assert isinstance(cfg.max_steps, int) and cfg.max_retries == SealedConfig().max_retries
    assert sealed_config(tuned, margin=4).margin == 4.0                     # an explicit --margin wins
    garbled = Loaded(ToyClassifier(), "toy", meta={"sealed_encrypt": "{not json"})
    assert sealed_config(garbled) == SealedConfig()


@pytest.mark.parametrize("codec_id", [sealed.CODEC_WEBP, sealed.CODEC_PNG])
def test_decompress_each_codec_exactly(codec_id):
    img = smooth_images(1, 16, 24)[0]
    assert np.array_equal(sealed.decompress(codec_id, sealed._encode(img, codec_id)), img)
    with pytest.raises(TamperedPixelsError):
        sealed.decompress(9, sealed._encode(img, codec_id))


def test_decrypt_files_batch_bit_exact_and_per_file_errors(codec, tmp_path):
    from ric.engine import sealed_decrypt_files
    key = Key.generate()
    imgs = smooth_images(3)
    res = codec.encrypt(imgs, key)
    pix = {str(tmp_path / f"c{i}.png"): c for i, c in enumerate(res.cipher)}
    bad = res.cipher[2].copy()
    bad.reshape(-1)[400] ^= 1                         # a payload digit changes: authentication fails
    pix[str(tmp_path / "c2.png")] = bad
    out = sealed_decrypt_files(key, pix, str(tmp_path / "dec"))
    assert [type(r.error).__name__ if r.error else None for r in out] == [None, None, "TamperedPixelsError"]
    for r, img in zip(out[:2], imgs):
        assert np.array_equal(np.asarray(Image.open(r.out).convert("RGB")), img)
    assert not (tmp_path / "dec" / "c2.png").exists()
    again = sealed_decrypt_files(key, pix, str(tmp_path / "dec"))   # never overwrites
    assert all(r.error is not None for r in again)


def test_out_of_range_payload_block_is_tampering_not_a_foreign_image(codec):
    key = Key.generate()
    c = codec.encrypt(smooth_images(1), key).cipher[0].copy()
    flat = c.reshape(-1)
    blk = slice(10 * 20, 10 * 21)                     # block 20: past the 30-digit header
    flat[blk] = (flat[blk] // BASE) * BASE + 50        # every digit 50: 51**10 - 1 overflows 7 bytes
    with pytest.raises(TamperedPixelsError, match="out of range"):
        open_sealed_pixels(key, c)


@pytest.mark.parametrize("workers", [1, 3])
def test_decrypt_files_png_payload_written_as_is_and_webp_reencoded(tmp_path, monkeypatch, workers):
    from ric.engine import sealed_decrypt_files
    codec = SealedCodec(ToyClassifier().eval(), SealedConfig(max_steps=200))
    key = Key.generate()
    imgs = smooth_images(4, seed=3)
    res = codec.encrypt(imgs[:2], key)                          # PNG preferred when it fits
    orig = sealed.compress
    monkeypatch.setattr(sealed, "compress", lambda px, room, lf=False: (
        sealed.CODEC_WEBP, sealed._encode(px, sealed.CODEC_WEBP), None))
    res2 = codec.encrypt(imgs[2:], key)                         # forced WebP payloads
    monkeypatch.setattr(sealed, "compress", orig)
    assert [i["codec"] for i in res.info + res2.info] == [sealed.CODEC_PNG] * 2 + [sealed.CODEC_WEBP] * 2
    pix = {str(tmp_path / f"c{i}.png"): c for i, c in enumerate(res.cipher + res2.cipher)}
    out = sealed_decrypt_files(key, pix, str(tmp_path / "dec"), workers=workers)
    assert all(r.error is None for r in out)
    for r, img in zip(out, imgs):
        assert np.array_equal(np.asarray(Image.open(r.out).convert("RGB")), img)   # bit-exact either way
    assert open(out[0].out, "rb").read() == sealed._encode(imgs[0], sealed.CODEC_PNG)
