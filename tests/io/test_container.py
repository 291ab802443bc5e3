import io
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from ric.errors import (
    ContainerError,
    OutputExistsError,
    RICError,
    TamperedMetadataError,
    TamperedPixelsError,
    WrongKeyError,
)
from ric.io import atomic
from ric.keys import Key
from ric.schemes import container
from ric.schemes.paper import header as paper_header


def _make(key, h=8, w=6, label=3, format="ric/4"):
    rng = np.random.default_rng(0)
    pix = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    hd = paper_header.make_header(key, pix, b"N" * 16, label, 17, model="m@abc", classifier="c@def", lam=0.8,
                                  phi={"lr": 0.1, "max_steps": 5, "margin": 5.0, "chunk": 8}, fingerprint=b"F" * 8,
                                  format=format)
    return pix, hd, paper_header.encode_png(pix, hd)


def _rewrite(data, mutate_meta=None, mutate_pix=None, extra_chunks=()):
    im = Image.open(io.BytesIO(data))
    im.load()
    meta = json.loads(im.text["ric"])
    if mutate_meta:
        mutate_meta(meta)
    pix = np.array(im)
    if mutate_pix:
        mutate_pix(pix)
    info = PngImagePlugin.PngInfo()
    info.add_itxt("ric", json.dumps(meta))
    for k, v in extra_chunks:
        info.add_itxt(k, v)
    buf = io.BytesIO()
    Image.fromarray(pix).save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def test_roundtrip_is_an_ordinary_png(key):
    pix, hd, data = _make(key)
    im = Image.open(io.BytesIO(data))
    assert im.format == "PNG" and im.mode == "RGB" and im.size == (6, 8)
    p2, h2 = container.read_ciphertext(data)
    assert np.array_equal(p2, pix) and h2 == hd
    s = paper_header.authenticate(key, p2, h2)
    assert (s.label, s.steps) == (3, 17)


def test_label_is_not_public(key):
    _, hd, data = _make(key, label=7)
    meta = json.loads(Image.open(io.BytesIO(data)).text["ric"])
    assert "label" not in meta and '"label"' not in meta["sealed"]


def test_wrong_key(key):
    pix, hd, _ = _make(key)
    with pytest.raises(WrongKeyError):
        paper_header.authenticate(Key.generate(), pix, hd)


def test_tampered_pixel(key):
    _, _, data = _make(key)
    bad = _rewrite(data, mutate_pix=lambda p: p.__setitem__((2, 3, 1), p[2, 3, 1] ^ 1))
    with pytest.raises(TamperedPixelsError):
        paper_header.authenticate(key, *container.read_ciphertext(bad))


@pytest.mark.parametrize("field,value", [("lam", 0.7), ("model", "other@123"), ("height", 9),
                                         ("phi", {"lr": 1, "max_steps": 5, "margin": 5.0, "chunk": 8}),
                                         ("fingerprint", "AAAAAAAAAAA="), ("mix", "none")])
def test_tampered_metadata(key, field, value):
    _, _, data = _make(key)       # ric/4 holds any mixing: a changed one is read, and fails authentication
    bad = _rewrite(data, mutate_meta=lambda m: m.__setitem__(field, value))
    with pytest.raises(TamperedMetadataError):
        paper_header.authenticate(key, *container.read_ciphertext(bad))


@pytest.mark.parametrize("field,value", [("format", "ric/3"), ("cpu", "AVX2"), ("torch", "9.9"), ("device", "cuda")])
def test_tampered_format_and_platform_fields(key, field, value):
    _, _, data = _make(key)
    bad = _rewrite(data, mutate_meta=lambda m: m.__setitem__(field, value))
    with pytest.raises(TamperedMetadataError):
        paper_header.authenticate(key, *container.read_ciphertext(bad))


def test_a_legacy_format_claiming_another_mixing_is_garbled(key):
    _, _, data = _make(key, format="ric/3")     # ric/3 is the mask only: format and mix changed together, or garbled
    with pytest.raises(ContainerError, match="'mix' is missing or unknown for format 'ric/3'"):
        container.read_ciphertext(_rewrite(data, mutate_meta=lambda m: m.__setitem__("mix", "none")))
    bad = _rewrite(data, mutate_meta=lambda m: m.update(mix="none", format="ric/2"))
    with pytest.raises(TamperedMetadataError):
        paper_header.authenticate(key, *container.read_ciphertext(bad))


def test_tampered_nonce_reads_as_wrong_key(key):
    _, _, data = _make(key)
    bad = _rewrite(data, mutate_meta=lambda m: m.__setitem__("nonce", "QUFBQUFBQUFBQUFBQUFBQQ=="))
    with pytest.raises(WrongKeyError, match="nonce"):
        paper_header.authenticate(key, *container.read_ciphertext(bad))


def test_stripped_metadata(key):
    pix, _, _ = _make(key)
    buf = io.BytesIO()
    Image.fromarray(pix).save(buf, format="PNG")
    with pytest.raises(ContainerError, match="no RIC metadata"):
        container.read_ciphertext(buf.getvalue())


def test_duplicated_metadata(key):
    _, _, data = _make(key)
    meta = Image.open(io.BytesIO(data)).text["ric"]
    with pytest.raises(ContainerError, match="2 RIC metadata chunks"):
        container.read_ciphertext(_rewrite(data, extra_chunks=[("ric", meta)]))


@pytest.mark.parametrize("payload,msg", [("not json", "not valid JSON"), ("[1]", "not a JSON object"),
                                         ('{"format": "ric/1"}', "lacks field"),
                                         ("x" * 20000, "too large")])
def test_garbled_metadata(key, payload, msg):
    pix, _, _ = _make(key)
    info = PngImagePlugin.PngInfo()
    info.add_itxt("ric", payload)
    buf = io.BytesIO()
    Image.fromarray(pix).save(buf, format="PNG", pnginfo=info)
    with pytest.raises(ContainerError, match=msg):
        container.read_ciphertext(buf.getvalue())


def test_format_v4_is_written_and_records_the_platform(key):
    _, hd, data = _make(key)
    meta = json.loads(Image.open(io.BytesIO(data)).text["ric"])
    assert meta["format"] == "ric/4" and meta["mix"] == "uniform-mask/1" and hd.mix == "uniform-mask/1"
    pix = np.zeros((8, 6, 3), np.uint8)
    hd = paper_header.make_header(key, pix, b"N" * 16, 3, 17, model="m@abc", classifier="c@def", lam=0.8, phi={},
                                  fingerprint=b"F" * 8, torch="2.13.0", cpu="AVX2", device="cpu")
    meta = json.loads(Image.open(io.BytesIO(paper_header.encode_png(pix, hd))).text["ric"])
    assert (meta["torch"], meta["cpu"], meta["device"]) == ("2.13.0", "AVX2", "cpu")
    for mix in ("perm-sign/1", "none"):
        assert paper_header.make_header(key, pix, b"N" * 16, 3, 17, model="m@abc", classifier="c@def", lam=0.8,
                                        phi={}, fingerprint=b"F" * 8, mix=mix).format == "ric/4"


def test_format_v3_carries_the_mixing(key):
    _, hd, data = _make(key, format="ric/3")
    meta = json.loads(Image.open(io.BytesIO(data)).text["ric"])
    assert meta["format"] == "ric/3" and meta["mix"] == "uniform-mask/1" and hd.mix == "uniform-mask/1"
    for bad in ("rot13", None, "perm-sign/1", "none", ["uniform-mask/1"]):
        with pytest.raises(ContainerError, match="'mix' is missing or unknown"):
            container.read_ciphertext(_rewrite(data, mutate_meta=lambda m: m.__setitem__("mix", bad)))


@pytest.mark.parametrize("mix", ["perm-sign/1", "none"])
def test_format_v2_holds_the_older_mixings(key, mix):
    pix = np.random.default_rng(1).integers(0, 256, (8, 6, 3), dtype=np.uint8)
    hd = paper_header.make_header(key, pix, b"N" * 16, 3, 17, model="m@abc", classifier="c@def", lam=0.8, phi={},
                                  fingerprint=b"F" * 8, mix=mix, format="ric/2")
    p2, h2 = container.read_ciphertext(paper_header.encode_png(pix, hd))
    assert (h2.format, h2.mix) == ("ric/2", mix) and paper_header.authenticate(key, p2, h2).label == 3
    with pytest.raises(ValueError, match="cannot write format"):
        paper_header.make_header(key, pix, b"N" * 16, 3, 17, model="m@abc", classifier="c@def", lam=0.8, phi={},
                       fingerprint=b"F" * 8, mix=mix, format="ric/3")


def test_format_v1_is_still_read_as_unmixed(key):
    """A ric/1 ciphertext (written before keyed mixing) has no `mix` field, authenticates, and reads as "none"."""
    rng = np.random.default_rng(0)
    pix = rng.integers(0, 256, (8, 6, 3), dtype=np.uint8)
    hd = paper_header.make_header(key, pix, b"N" * 16, 3, 17, model="m@abc", classifier="c@def", lam=0.8, phi={},
                        fingerprint=b"F" * 8, mix="none", format="ric/1")
    data = paper_header.encode_png(pix, hd)
    meta = json.loads(Image.open(io.BytesIO(data)).text["ric"])
    assert meta["format"] == "ric/1" and "mix" not in meta
    p2, h2 = container.read_ciphertext(data)
    assert h2.mix == "none" and paper_header.authenticate(key, p2, h2).label == 3
    with pytest.raises(ValueError, match="cannot write format"):
        paper_header.make_header(key, pix, b"N" * 16, 3, 17, model="m", classifier="c", lam=0.8, phi={},
                       fingerprint=b"F" * 8, format="ric/1")


def test_future_format_refused(key):
    _, _, data = _make(key)
    with pytest.raises(ContainerError, match="unsupported ciphertext format"):
        container.read_ciphertext(_rewrite(data, mutate_meta=lambda m: m.__setitem__("format", "ric/9")))


def test_not_png_truncated_and_bad_crc(key):
    _, _, data = _make(key)
    with pytest.raises(ContainerError, match="not a PNG"):
        container.read_ciphertext(b"hello")
    with pytest.raises(ContainerError, match="truncated"):
        container.read_ciphertext(data[: len(data) // 2])
    bad = bytearray(data)
    bad[20] ^= 0xFF  # inside IHDR
    with pytest.raises(ContainerError, match="CRC"):
        container.read_ciphertext(bytes(bad))


def test_non_rgb_ciphertext_refused(key):
    _, _, data = _make(key)
    im = Image.open(io.BytesIO(data))
    info = PngImagePlugin.PngInfo()
    info.add_itxt("ric", im.text["ric"])
    buf = io.BytesIO()
    im.convert("RGBA").save(buf, format="PNG", pnginfo=info)
    with pytest.raises(ContainerError, match="mode RGBA"):
        container.read_ciphertext(buf.getvalue())


def test_write_atomic_never_overwrites(tmp_path):
    p = tmp_path / "x.png"
    p.write_bytes(b"user data")
    with pytest.raises(OutputExistsError):
        atomic.write_atomic(str(p), b"new")
    assert p.read_bytes() == b"user data"


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=600), st.integers(0, 2000))
def test_fuzz_parser_only_raises_container_errors(blob, cut):
    """Random bytes are never a ciphertext (ContainerError); a real ciphertext cut and spliced with them gives
    ContainerError, fails authentication (a RICError), or parses to exactly the original pixels and header (a
    splice that left the content as it was) — never another exception type, never another accepted content."""
    key = Key(bytes(range(32)))
    pix0, hd0, data = _make(key)
    with pytest.raises(ContainerError):
        container.read_ciphertext(blob)
    for cand in (data[:cut] + blob, data[:cut] + blob + data[cut + len(blob):]):
        try:
            pix, hd = container.read_ciphertext(cand)
            paper_header.authenticate(key, pix, hd)
        except RICError:
            continue
        assert np.array_equal(pix, pix0) and hd.to_json() == hd0.to_json()


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(["format", "nonce", "keycheck", "lam", "height", "phi", "sealed", "tag",
                                        "model"]),
                       st.one_of(st.none(), st.integers(), st.text(max_size=30), st.floats(allow_nan=True),
                                 st.lists(st.integers(), max_size=3))))
def test_fuzz_metadata_fields(changes):
    """Any change of a metadata field is refused with a RICError; only rewriting fields to the values they had
    authenticates."""
    key = Key(bytes(range(32)))
    _, hd0, data = _make(key)
    meta0 = json.loads(hd0.to_json())
    bad = _rewrite(data, mutate_meta=lambda m: m.update(changes))
    try:
        paper_header.authenticate(key, *container.read_ciphertext(bad))
    except RICError:
        return
    assert all(k in meta0 and meta0[k] == v for k, v in changes.items()), changes


def test_compressed_itxt_is_read(key):
    """A tool that re-saves the metadata compressed (zTXt-style iTXt) keeps the ciphertext readable."""
    pix, hd, _ = _make(key)
    info = PngImagePlugin.PngInfo()
    info.add_itxt("ric", hd.to_json(), zip=True)
    buf = io.BytesIO()
    Image.fromarray(pix).save(buf, format="PNG", pnginfo=info)
    p2, h2 = container.read_ciphertext(buf.getvalue())
    assert paper_header.authenticate(key, p2, h2).label == 3
