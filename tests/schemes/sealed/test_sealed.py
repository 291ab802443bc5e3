import hashlib
import io
import json
import os
import struct
import zlib

import numpy as np
import pytest
import torch
from conftest import ToyClassifier
from image_support import smooth_images
from PIL import Image

import ric
from ric.errors import TamperedMetadataError, TamperedPixelsError, WrongKeyError
from ric.keys import Key, seeded_nonces
from ric.schemes import container, sealed
from ric.schemes.sealed import (
    BASE,
    BLOCK_BYTES,
    BLOCK_DIGITS,
    CapacityError,
    NotSealedError,
    SealedCodec,
    SealedConfig,
    bytes_to_digits,
    capacity_bytes,
    coarse_attack,
    digits_to_bytes,
    open_sealed_pixels,
)
from ric.schemes.sealed import payload as sealed_payload
from ric.schemes.sealed import png as sealed_png
from ric.schemes.sealed import stream as sealed_stream

GOLDEN_V1 = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "golden", "sealed_v1")
SAMPLES = os.path.join(os.path.dirname(ric.__file__), "samples")


def fixed_key(i=0):
    """Test keys are fixed (nothing in these tests depends on chance)."""
    return Key(hashlib.sha256(f"test_sealed key {i}".encode()).digest())


def make_codec(seed=0, **cfg):
    """Deterministic: seeded nonces (NOT for real encryption) and a seeded attack generator."""
    return SealedCodec(ToyClassifier().eval(), SealedConfig(**{"max_steps": 200, **cfg}),
                       nonce_source=seeded_nonces(seed, sealed.NONCE_BYTES), seed=seed)


@pytest.fixture
def codec():
    return make_codec()


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
    key = fixed_key()
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
    key = fixed_key()
    c = codec.encrypt(smooth_images(1), key).cipher[0]
    with pytest.raises(WrongKeyError):
        open_sealed_pixels(fixed_key(1), c)
    bad = c.copy()
    flat = bad.reshape(-1)
    i = 300                                    # a payload digit, past the header (first 30 digits)
    flat[i] = flat[i] - 1 if flat[i] % BASE else flat[i] + 1
    with pytest.raises(TamperedPixelsError):
        open_sealed_pixels(key, bad)


def test_same_plaintext_twice_gives_unrelated_ciphertexts(codec):
    key = fixed_key()
    img = smooth_images(1)
    a, b = codec.encrypt(img, key).cipher[0], codec.encrypt(img, key).cipher[0]
    assert (a % BASE != b % BASE).mean() > 0.9


def test_stripped_metadata_still_decrypts(codec, tmp_path):
    key = fixed_key()
    img = smooth_images(1)[0]
    c = codec.encrypt([img], key).cipher[0]
    full = sealed_png.encode_sealed_png(c)
    assert container.sniff(full)[0] == "sealed"
    buf = io.BytesIO()
    Image.fromarray(c).save(buf, format="PNG")         # no metadata at all
    scheme, pix, _ = container.sniff(buf.getvalue())
    assert scheme == "sealed" and np.array_equal(open_sealed_pixels(key, pix), img)


def test_capacity_edge_and_lossy_fallback(codec):
    key = fixed_key()
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
    room = sealed.payload_room(16, 16)
    for size, fits in ((room, True), (room + 1, False)):
        monkeypatch.setattr(sealed_payload, "_encode", lambda px, codec, *a, n=size, **kw: b"\x00" * n)
        if fits:
            stream, info = sealed.seal_stream(fixed_key(), np.zeros((16, 16, 3), np.uint8), bytes(12))
            assert len(stream) == capacity_bytes(16, 16) and info["payload_bytes"] == room
        else:
            with pytest.raises(CapacityError):
                sealed.seal_stream(fixed_key(), np.zeros((16, 16, 3), np.uint8), bytes(12))


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



class _GradRecorder(torch.nn.Module):
    """Wraps a classifier and records, per call, its batch size and whether autograd was on."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.calls = inner, []

    def forward(self, x):
        self.calls.append((len(x), torch.is_grad_enabled()))
        return self.inner(x)


def test_coarse_attack_runs_step_0_forward_only_and_backward_only_for_the_rest():
    """Known answer on the toy classifier: the images whose first levels already reach the margin cost one
    forward pass without autograd; the others run step 0 again with it, then climb."""
    clf = ToyClassifier().eval()
    for p in clf.parameters():
        p.requires_grad_(False)
    fine = torch.randint(0, BASE, (4, 3, 16, 16), generator=torch.Generator().manual_seed(0))
    init = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        lev = torch.round(2 * (torch.tanh(torch.atanh((init * 2 - 1).clamp(-0.999, 0.999))) + 1))
        start = clf((BASE * lev + fine.float()) / 255)
    target = torch.tensor([int(start[0].argmax()), int(start[1].argmax()), int(start[2].argmin()),
                           int(start[3].argmin())])     # two already labelled so, two as far from it as can be
    gap = (start[:2].max(1).values - start[:2].topk(2, 1).values[:, 1]).min()
    rec = _GradRecorder(clf)
    cfg = SealedConfig(max_steps=50, margin=float(gap) / 2)   # the first two start past it
    _, ok, steps = coarse_attack(rec, fine, target, init, cfg, torch.Generator().manual_seed(5))
    assert steps[:2].tolist() == [0, 0] and ok[:2].all() and (steps[2:] > 0).all()
    assert rec.calls[:2] == [(4, False), (2, True)]        # step 0 for all, forward only; again for the other two
    assert all(grad for _, grad in rec.calls[1:])
    rec.calls.clear()
    _, ok2, steps2 = coarse_attack(rec, fine, target, init, cfg, torch.Generator().manual_seed(5), step0=False)
    assert rec.calls[0] == (4, True) and all(grad for _, grad in rec.calls) and steps2[:2].tolist() == [0, 0]


def test_not_a_sealed_ciphertext():
    rng = np.random.default_rng(1)
    plain = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    assert not sealed.is_sealed(plain)
    with pytest.raises(sealed.NotSealedError):
        open_sealed_pixels(fixed_key(), plain)


def test_sealed_config_reads_classifier_metadata_then_margin():
    from ric.errors import ModelLoadError
    from ric.hub import Loaded
    from ric.schemes.sealed.scheme import sealed_config
    plain = Loaded(ToyClassifier(), "toy")
    assert sealed_config(plain) == SealedConfig()
    assert sealed_config(plain, margin=2).margin == 2.0
    tuned = Loaded(ToyClassifier(), "toy", meta={"sealed_encrypt": '{"margin": 1.5, "lr": 0.3, "max_steps": 80, '
                                                                      '"payload_samples": 2}'})
    cfg = sealed_config(tuned)
    assert (cfg.margin, cfg.lr, cfg.max_steps, cfg.payload_samples) == (1.5, 0.3, 80, 2)
    assert isinstance(cfg.max_steps, int) and cfg.max_retries == SealedConfig().max_retries
    assert sealed_config(tuned, margin=4).margin == 4.0                     # an explicit --margin wins
    for bad in ("{not json", '{"margin": 1.5, "unknown": 1}', '{"margin": "high"}'):   # never silently ignored
        with pytest.raises(ModelLoadError, match="sealed_encrypt"):
            sealed_config(Loaded(ToyClassifier(), "toy", meta={"sealed_encrypt": bad}))


@pytest.mark.parametrize("codec_id", [sealed.CODEC_WEBP, sealed.CODEC_PNG])
def test_decompress_each_codec_exactly(codec_id):
    img = smooth_images(1, 16, 24)[0]
    assert np.array_equal(sealed.decompress(codec_id, sealed_payload._encode(img, codec_id)), img)
    with pytest.raises(TamperedPixelsError):
        sealed.decompress(9, sealed_payload._encode(img, codec_id))


@pytest.mark.parametrize("room,tried,chosen", [
    (120, ["png"], "png"), (95, ["png", "png+"], "png+"), (70, ["png", "png+", 1], 1),
    (55, ["png", "png+", 1, 4], 4), (40, ["png", "png+", 1, 4], None)])
def test_efforts_are_tried_fast_first_and_the_slow_ones_only_when_needed(monkeypatch, room, tried, chosen):
    """Known sizes per effort (PNG at zlib's default level 110 bytes, PNG optimized 90, WebP method 1: 60, method 4:
    50): the first that fits is kept."""
    sizes, calls = {"png": 110, "png+": 90, 1: 60, 4: 50}, []

    def fake(im, codec, quality=100, method=6, optimize=False):
        what = ("png+" if optimize else "png") if codec == sealed.CODEC_PNG else method
        calls.append(what)
        return bytes([codec]) * sizes[what]
    monkeypatch.setattr(sealed_payload, "_encode", fake)
    img = smooth_images(1)[0]
    if chosen is None:
        with pytest.raises(sealed.CapacityError, match="50 bytes"):
            sealed_payload.compress(img, room)
    else:
        codec_id, data, psnr = sealed_payload.compress(img, room)
        want = sealed.CODEC_PNG if chosen in ("png", "png+") else sealed.CODEC_WEBP
        assert (codec_id, len(data), psnr) == (want, sizes[chosen], None)
    assert calls == tried


def _decrypt_pixels(key, pix: dict, out_dir: str, workers: int = 2):
    """Write sealed ciphertext pixels as files and decrypt them through the file engine."""
    from ric.files.engine import FileEngine
    from ric.schemes.sealed.scheme import SealedScheme
    for path, c in pix.items():
        with open(path, "wb") as f:
            f.write(sealed_png.encode_sealed_png(c))
    return list(FileEngine(show_progress=False, io_threads=workers).decrypt(SealedScheme(), key, list(pix), out_dir))


def test_decrypt_files_batch_bit_exact_and_per_file_errors(codec, tmp_path):
    key = fixed_key()
    imgs = smooth_images(3)
    res = codec.encrypt(imgs, key)
    pix = {str(tmp_path / f"c{i}.png"): c for i, c in enumerate(res.cipher)}
    bad = res.cipher[2].copy()
    bad.reshape(-1)[400] ^= 1                         # a payload digit changes: authentication fails
    pix[str(tmp_path / "c2.png")] = bad
    out = _decrypt_pixels(key, pix, str(tmp_path / "dec"))
    assert [type(r.error).__name__ if r.error else None for r in out] == [None, None, "TamperedPixelsError"]
    for r, img in zip(out[:2], imgs):
        assert np.array_equal(np.asarray(Image.open(r.out).convert("RGB")), img)
    assert not (tmp_path / "dec" / "c2.png").exists()
    again = _decrypt_pixels(key, pix, str(tmp_path / "dec"))   # never overwrites
    assert all(r.error is not None for r in again)


def test_out_of_range_payload_block_is_tampering_not_a_foreign_image(codec):
    key = fixed_key()
    c = codec.encrypt(smooth_images(1), key).cipher[0].copy()
    flat = c.reshape(-1)
    blk = slice(10 * 20, 10 * 21)                     # block 20: past the 30-digit header
    flat[blk] = (flat[blk] // BASE) * BASE + 50        # every digit 50: 51**10 - 1 overflows 7 bytes
    with pytest.raises(TamperedPixelsError, match="out of range"):
        open_sealed_pixels(key, c)


@pytest.mark.parametrize("workers", [1, 3])
def test_decrypt_files_png_payload_written_as_is_and_webp_reencoded(tmp_path, monkeypatch, workers):
    codec = make_codec(3)
    key = fixed_key()
    imgs = smooth_images(4, seed=3)
    res = codec.encrypt(imgs[:2], key)                          # PNG preferred when it fits
    orig = sealed_stream.compress
    monkeypatch.setattr(sealed_stream, "compress", lambda px, room, lf=False: (
        sealed.CODEC_WEBP, sealed_payload._encode(px, sealed.CODEC_WEBP), None))
    res2 = codec.encrypt(imgs[2:], key)                         # forced WebP payloads
    monkeypatch.setattr(sealed_stream, "compress", orig)
    assert [i["codec"] for i in res.info + res2.info] == [sealed.CODEC_PNG] * 2 + [sealed.CODEC_WEBP] * 2
    pix = {str(tmp_path / f"c{i}.png"): c for i, c in enumerate(res.cipher + res2.cipher)}
    out = _decrypt_pixels(key, pix, str(tmp_path / "dec"), workers)
    assert all(r.error is None for r in out)
    for r, img in zip(out, imgs):
        assert np.array_equal(np.asarray(Image.open(r.out).convert("RGB")), img)   # bit-exact either way
    assert open(out[0].out, "rb").read() == sealed_payload._encode(imgs[0], sealed.CODEC_PNG)


# -- pixel version 2: every value and the metadata are authenticated --------------------------------------
def sample_images(n=3):
    names = ["cat_03897.png", "ship_08055.png", "frog_06833.png"][:n]
    return [np.asarray(Image.open(os.path.join(SAMPLES, f)).convert("RGB")) for f in names]


@pytest.fixture(scope="module")
def v2_ciphers():
    """Three 32x32 version-2 ciphertexts (real images, a real attack), made deterministically, and their key."""
    key = fixed_key(7)
    imgs = sample_images()
    res = make_codec(11).encrypt(imgs, key)
    assert res.errors == {}
    return key, imgs, res


def test_v2_is_written_and_encryption_is_deterministic_for_seeds(v2_ciphers):
    key, imgs, res = v2_ciphers
    assert all(sealed.sealed_version(c) == sealed.VERSION == 2 for c in res.cipher)
    again = make_codec(11).encrypt(imgs, key)
    assert all(np.array_equal(a, b) for a, b in zip(res.cipher, again.cipher))
    other = make_codec(12).encrypt(imgs[:1], key).cipher[0]
    assert (other % BASE != res.cipher[0] % BASE).mean() > 0.9          # another nonce: unrelated


def test_v2_label_kept_on_the_final_ciphertext(v2_ciphers):
    """The tag's digits are written after the attack; the classifier still labels the written ciphertext."""
    key, imgs, res = v2_ciphers
    cls = ToyClassifier().eval()
    to_t = lambda a: torch.from_numpy(np.stack(a)).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        assert cls(to_t(res.cipher)).argmax(1).tolist() == cls(to_t(imgs)).argmax(1).tolist() == res.labels
    for c, x in zip(res.cipher, imgs):
        assert c.max() <= 254 and np.array_equal(open_sealed_pixels(key, c), x)


def test_v2_coarse_change_is_refused(v2_ciphers):
    """+51 (or -51) on one value changes only N, what the classifier sees: version 1 let it through."""
    key, _, res = v2_ciphers
    c = res.cipher[0]
    flat = c.reshape(-1)
    for i in (0, 31, 1000, len(flat) - 1):                   # header, payload and filler values
        for d in (51, -51):
            if 0 <= int(flat[i]) + d <= 254:
                bad = c.copy()
                bad.reshape(-1)[i] = int(flat[i]) + d
                with pytest.raises(TamperedPixelsError):
                    open_sealed_pixels(key, bad)
    bad = c.copy()
    bad.reshape(-1)[500] = 255                                # reads as N = 5, B = 0
    with pytest.raises(TamperedPixelsError, match="above 254"):
        open_sealed_pixels(key, bad)


def test_v2_filler_digit_change_is_refused(v2_ciphers):
    key, _, res = v2_ciphers
    c = res.cipher[1]
    n_fill = c.size - capacity_bytes(32, 32) // BLOCK_BYTES * BLOCK_DIGITS
    assert n_fill == 2
    for j in range(1, n_fill + 1):
        bad = c.copy()
        flat = bad.reshape(-1)
        flat[-j] = flat[-j] - 1 if flat[-j] % BASE else flat[-j] + 1      # same N, another filler digit
        with pytest.raises(TamperedPixelsError, match="authentication failed"):
            open_sealed_pixels(key, bad)


def tamper(flat: np.ndarray, rng) -> tuple[np.ndarray, int, str]:
    """One random change of one value: 'pixel' (c ± k), 'fine' (B -> B', same N) or 'coarse' (N -> N', same B;
    N' = 5 where B = 0, i.e. c = 255)."""
    out = flat.copy()
    i = int(rng.integers(len(flat)))
    c = int(flat[i])
    n, b = divmod(c, BASE)
    kind = ("pixel", "fine", "coarse")[int(rng.integers(3))]
    if kind == "pixel":
        new = int(rng.choice([v for v in range(256) if v != c]))
    elif kind == "fine":
        new = BASE * n + int(rng.choice([v for v in range(BASE) if v != b]))
    else:
        new = BASE * int(rng.choice([v for v in range(6) if v != n and BASE * v + b <= 255])) + b
    out[i] = new
    return out, i, kind


def test_v2_random_tamperings_are_all_refused(v2_ciphers):
    """1,200 seeded random single-value tamperings (decryption only): every one refused. Tampered pixels read as
    TamperedPixelsError, except a fine change in the first block (magic and version) that no longer names a sealed
    ciphertext (NotSealedError); never as a wrong key."""
    key, imgs, res = v2_ciphers
    rng = np.random.default_rng(2024)
    refused, kinds = 0, {}
    for t in range(1200):
        c = res.cipher[t % len(res.cipher)]
        bad, i, kind = tamper(c.reshape(-1), rng)
        kinds[kind] = kinds.get(kind, 0) + 1
        try:
            open_sealed_pixels(key, bad.reshape(c.shape))
        except TamperedPixelsError:
            refused += 1
        except NotSealedError:
            assert i < BLOCK_DIGITS and bad[i] // BASE == c.reshape(-1)[i] // BASE, (t, i, kind)
            refused += 1
    assert refused == 1200 and min(kinds.values()) > 350


def test_v2_header_change_reads_as_tampering_not_wrong_key(v2_ciphers):
    key, _, res = v2_ciphers
    c = res.cipher[2]
    for i in range(3 * BLOCK_DIGITS):                 # the 18 header bytes (and 3 body bytes) in 3 blocks
        bad = c.copy()
        flat = bad.reshape(-1)
        flat[i] = flat[i] - 1 if flat[i] % BASE else flat[i] + 1
        # the first block's top digits 7-9 hold the magic and version bytes: a change there leaves no sealed
        # header ("not sealed"); a change anywhere else is tampering (the header check or the tag)
        header_gone = i in (7, 8, 9)
        assert sealed.sealed_version(bad) == (None if header_gone else 2)
        with pytest.raises(NotSealedError if header_gone else TamperedPixelsError):
            open_sealed_pixels(key, bad)
    with pytest.raises(WrongKeyError):
        open_sealed_pixels(fixed_key(8), c)


def test_v2_cannot_be_downgraded_to_version_1(v2_ciphers):
    """Rewriting the version digit block to 1 (N kept) sends it down the version-1 path, which refuses it."""
    key, _, res = v2_ciphers
    c = res.cipher[0].copy()
    flat = c.reshape(-1)
    first = bytearray(digits_to_bytes(flat[:BLOCK_DIGITS] % BASE, 1))
    first[1] = 1
    flat[:BLOCK_DIGITS] = (flat[:BLOCK_DIGITS] // BASE) * BASE + bytes_to_digits(bytes(first), BLOCK_DIGITS)
    assert sealed.sealed_version(c) == 1
    with pytest.raises(WrongKeyError):       # version 1 reads its 4-byte key check from other bytes (2**-32 to match)
        open_sealed_pixels(key, c)


def test_seal_pixels_any_coarse_plane_and_tag_binds_it():
    key = fixed_key(3)
    img = sample_images(1)[0]
    rng = np.random.default_rng(5)
    n1 = rng.integers(0, 5, img.shape, dtype=np.uint8)
    n2 = n1.copy()
    n2[3, 4, 1] ^= 1
    a = sealed.seal_pixels(key, img, bytes(12), n1)
    b = sealed.seal_pixels(key, img, bytes(12), n2)
    assert np.array_equal(open_sealed_pixels(key, a), img) and np.array_equal(open_sealed_pixels(key, b), img)
    assert np.array_equal(a // BASE, n1) and np.array_equal(b // BASE, n2)
    cap_digits = capacity_bytes(32, 32) // BLOCK_BYTES * BLOCK_DIGITS
    diff = np.flatnonzero((a % BASE).reshape(-1) != (b % BASE).reshape(-1))
    assert len(diff) and diff.min() >= cap_digits - 3 * BLOCK_DIGITS     # only the tag's blocks differ
    with pytest.raises(ValueError):
        sealed.seal_pixels(key, img, bytes(12), np.full(img.shape, 5, np.uint8))


# -- the metadata chunk ---------------------------------------------------------------------------------
def _chunks(b):
    i, out = 8, []
    while i < len(b):
        n = struct.unpack(">I", b[i:i + 4])[0]
        out.append((b[i + 4:i + 8], b[i + 8:i + 8 + n]))
        i += 12 + n
    return out


def _png(chs):
    return b"\x89PNG\r\n\x1a\n" + b"".join(struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
                                           for t, d in chs)


def _with_chunk(png: bytes, fn) -> bytes:
    """The PNG with its `ric` chunk replaced by fn(type, body) -> list of (type, body); every other chunk kept."""
    out = []
    for t, d in _chunks(png):
        out += fn(t, d) if t == b"iTXt" and d.startswith(b"ric\x00") else [(t, d)]
    return _png(out)


METADATA_TAMPERS = {
    "flip a byte of the text": lambda t, d: [(t, d[:-3] + bytes([d[-3] ^ 1]) + d[-2:])],
    "another format": lambda t, d: [(t, d.replace(b"ric/1", b"ric/2"))],
    "a field added": lambda t, d: [(t, d[:-1] + b', "label": 3}')],
    "same JSON, other spacing": lambda t, d: [(t, d.replace(b", ", b","))],
    "a language tag": lambda t, d: [(t, b"ric\x00\x00\x00en\x00\x00" + d[8:])],
    "as tEXt": lambda t, d: [(b"tEXt", b"ric\x00" + d[8:])],
    "as compressed iTXt": lambda t, d: [(t, b"ric\x00\x01\x00\x00\x00" + zlib.compress(d[8:]))],
}


@pytest.mark.parametrize("how", sorted(METADATA_TAMPERS))
def test_v2_metadata_change_is_refused(v2_ciphers, how):
    key, imgs, res = v2_ciphers
    png = sealed_png.encode_sealed_png(res.cipher[0])
    assert container._ric_chunks(png) == [sealed_png.SEALED_CHUNK]
    bad = _with_chunk(png, METADATA_TAMPERS[how])
    assert bad != png
    with pytest.raises(TamperedMetadataError):
        container.sniff(bad)
    stripped = _with_chunk(png, lambda t, d: [])                 # stripped metadata is fine
    scheme, pix, _ = container.sniff(stripped)
    assert scheme == "sealed" and np.array_equal(open_sealed_pixels(key, pix), imgs[0])


def test_cli_metadata_change_exit_7_pixels_exit_8_nothing_written(v2_ciphers, tmp_path):
    from ric.cli import main
    key, imgs, res = v2_ciphers
    kp = str(tmp_path / "k.key")
    key.save(kp)
    png = sealed_png.encode_sealed_png(res.cipher[0])
    (tmp_path / "meta.png").write_bytes(_with_chunk(png, METADATA_TAMPERS["flip a byte of the text"]))
    px = res.cipher[0].copy()
    px.reshape(-1)[700] += 51 if px.reshape(-1)[700] <= 203 else -51
    (tmp_path / "coarse.png").write_bytes(sealed_png.encode_sealed_png(px))
    (tmp_path / "ok.png").write_bytes(png)
    assert main(["decrypt", "-q", "--key", kp, "--out", str(tmp_path / "d1"), str(tmp_path / "meta.png")]) == 7
    assert main(["decrypt", "-q", "--key", kp, "--out", str(tmp_path / "d2"), str(tmp_path / "coarse.png")]) == 8
    for d in ("d1", "d2"):                                       # nothing written for a refused file
        assert not (tmp_path / d).exists() or not any((tmp_path / d).iterdir())
    assert main(["decrypt", "-q", "--key", kp, "--out", str(tmp_path / "d3"), str(tmp_path / "ok.png")]) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "d3" / "ok.png").convert("RGB")), imgs[0])


# -- version 1 (golden files written by the version-1 encryptor) still decrypts -----------------------------
def _golden_v1():
    with open(os.path.join(GOLDEN_V1, "manifest.json")) as f:
        man = json.load(f)
    return Key.load(os.path.join(GOLDEN_V1, man["key"]), check_permissions=False), man["files"]


def test_golden_v1_ciphertexts_decrypt_bit_exactly():
    key, files = _golden_v1()
    assert len(files) >= 3
    for f in files:
        scheme, pix, hd = container.sniff(os.path.join(GOLDEN_V1, f["ciphertext"]))
        assert scheme == "sealed" and hd is None and sealed.sealed_version(pix) == 1
        back = open_sealed_pixels(key, pix)
        assert hashlib.sha256(back.tobytes()).hexdigest() == f["plaintext_sha256"]
        assert np.array_equal(back, np.asarray(Image.open(os.path.join(SAMPLES, f["plaintext"])).convert("RGB")))
        with pytest.raises(WrongKeyError):
            open_sealed_pixels(fixed_key(), pix)


GOLDEN_V2 = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "golden", "sealed_v2")


def test_golden_v2_ciphertexts_decrypt_bit_exactly():
    """Version 2 (what `ric encrypt --scheme sealed` writes) as committed by commit ddaa7c7: decrypts to the
    plaintext's pixels with the key, refuses another key, and any change of its coarse plane is refused."""
    with open(os.path.join(GOLDEN_V2, "manifest.json")) as f:
        man = json.load(f)
    key = Key.load(os.path.join(GOLDEN_V2, man["key"]), check_permissions=False)
    assert len(man["files"]) >= 2
    for f in man["files"]:
        scheme, pix, hd = container.sniff(os.path.join(GOLDEN_V2, f["ciphertext"]))
        assert scheme == "sealed" and hd is None and sealed.sealed_version(pix) == 2
        back = open_sealed_pixels(key, pix)
        assert hashlib.sha256(back.tobytes()).hexdigest() == f["plaintext_sha256"]
        with pytest.raises(WrongKeyError):
            open_sealed_pixels(fixed_key(), pix)
        bad = pix.copy()
        flat = bad.reshape(-1)
        flat[900] = flat[900] + 51 if flat[900] <= 203 else flat[900] - 51      # N changes, B does not
        with pytest.raises(TamperedPixelsError):
            open_sealed_pixels(key, bad)


def test_golden_v1_does_not_authenticate_coarse_plane_or_filler():
    """The documented weakness of version 1: N and the filler digits are not authenticated (version 2 fixes it);
    its fine digits are."""
    key, files = _golden_v1()
    _, pix, _ = container.sniff(os.path.join(GOLDEN_V1, files[0]["ciphertext"]))
    want = open_sealed_pixels(key, pix)
    bad = pix.copy()
    flat = bad.reshape(-1)
    flat[900] = flat[900] + 51 if flat[900] <= 203 else flat[900] - 51
    flat[-1] = flat[-1] - 1 if flat[-1] % BASE else flat[-1] + 1
    assert np.array_equal(open_sealed_pixels(key, bad), want)          # not detected in version 1
    flat[901] = flat[901] - 1 if flat[901] % BASE else flat[901] + 1      # a fine digit: detected
    with pytest.raises(TamperedPixelsError):
        open_sealed_pixels(key, bad)


def test_peak_memory_estimate_counts_the_payload_draws():
    """Known answers of the measured model (docs/results.md): 2.4 KB per pixel with one draw, 6.6 KB with four."""
    from ric.hub import Loaded
    from ric.schemes.sealed.scheme import SealedScheme
    one = SealedScheme(Loaded(ToyClassifier(), "toy"))
    four = SealedScheme(Loaded(ToyClassifier(), "toy", meta={"sealed_encrypt": '{"payload_samples": 4}'}))
    assert one.codec.cfg.payload_samples == 1
    assert one.peak_bytes(100, 100, 2) == (450 << 20) + 2400 * 100 * 100 * 2
    assert four.peak_bytes(100, 100, 2) == (450 << 20) + 6600 * 100 * 100 * 2
