"""Fuzzing the ciphertext parser with hypothesis, structure-aware: mutations keep valid chunk CRCs so they reach
the metadata, JSON, base64 and pixel layers. Whatever the input, parsing and authenticating raise a RICError
(one-line message) or succeed — never another exception type, never an unbounded allocation."""
import io
import json
import struct
import zlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ric.errors import ContainerError, RICError
from ric.io import png
from ric.keys import Key
from ric.schemes import container
from ric.schemes.paper import header as paper_header

KEY = Key(bytes(range(32)))
SIG = b"\x89PNG\r\n\x1a\n"


def _good():
    import numpy as np
    pix = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)
    hd = paper_header.make_header(KEY, pix, b"N" * 16, 2, 7, model="m@abc", classifier="c@def", lam=0.8,
                        phi={"lr": 0.1, "max_steps": 5, "margin": 5.0, "chunk": 8}, fingerprint=b"F" * 8)
    return paper_header.encode_png(pix, hd), json.loads(hd.to_json())


GOOD, META = _good()


def _chunks(data):
    pos, out = 8, []
    while pos + 8 <= len(data):
        n, t = struct.unpack(">I4s", data[pos:pos + 8])
        out.append([t, data[pos + 8:pos + 8 + n]])
        pos += 12 + n
    return out


def _build(chs):
    return SIG + b"".join(struct.pack(">I", len(b)) + t + b + struct.pack(">I", zlib.crc32(t + b) & 0xFFFFFFFF)
                          for t, b in chs)


def _exercise(data):
    """The whole reader: sniff (both schemes), then the key check / AEAD / pixel tag with the right key."""
    try:
        scheme, pix, hd = container.sniff(data)
    except ContainerError as e:
        assert "\n" not in str(e)
        return "refused"
    if hd is None:
        return "sealed"
    try:
        paper_header.authenticate(KEY, pix, hd)
    except RICError as e:
        assert "\n" not in str(e)
        return "refused"
    return "accepted"


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                           lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
                           max_leaves=6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(sorted(META)), json_values, min_size=1, max_size=3),
       st.lists(st.sampled_from(sorted(META)), max_size=2))
def test_fuzz_metadata_values(changes, dropped):
    meta = {k: v for k, v in {**META, **changes}.items() if k not in dropped}
    chs = [c for c in _chunks(GOOD) if c[0] != b"iTXt"]
    chs.insert(1, [b"iTXt", b"ric\x00\x00\x00\x00\x00" + json.dumps(meta).encode()])
    out = _exercise(_build(chs))
    if changes and any(META.get(k) != v for k, v in changes.items()) or dropped:
        assert out != "accepted"   # no field changes without detection


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 4), st.integers(0, 10_000), st.binary(min_size=1, max_size=64),
       st.sampled_from(["replace", "insert", "truncate", "flip"]))
def test_fuzz_chunk_bodies_with_valid_crcs(which, pos, blob, op):
    """Mutate one chunk's body (IHDR, iTXt, IDAT, IEND...) and fix its CRC so the mutation gets past the walker."""
    chs = _chunks(GOOD)
    i = which % len(chs)
    body = chs[i][1]
    p = pos % (len(body) + 1)
    if op == "replace":
        body = body[:p] + blob + body[p + len(blob):]
    elif op == "insert":
        body = body[:p] + blob + body[p:]
    elif op == "truncate":
        body = body[:p]
    else:
        body = bytes(b ^ blob[0] if j == p else b for j, b in enumerate(body))
    chs[i][1] = body
    out = _exercise(_build(chs))
    if chs[i][0] == b"iTXt" and out == "accepted":   # only a semantically identical metadata chunk may pass
        assert body.startswith(b"ric\x00\x00\x00")   # keyword, uncompressed, method 0 (language tags may vary)
        assert json.loads(png._parse_text_chunk(body)) == META


def test_metadata_chunk_with_only_its_keyword_is_refused():
    """Found by the fuzzer above: an iTXt body of exactly b"ric" (no NUL) raised ValueError from the parser."""
    chs = _chunks(GOOD)
    i = next(j for j, c in enumerate(chs) if c[0] == b"iTXt")
    chs[i][1] = b"ric"
    assert _exercise(_build(chs)) == "refused"


def test_itxt_with_an_unknown_compression_method_is_refused():
    """Found by the fuzzer above: flag 0 (uncompressed) with method byte 1 was read as if it were 0."""
    chs = _chunks(GOOD)
    i = next(j for j, c in enumerate(chs) if c[0] == b"iTXt")
    assert chs[i][1].startswith(b"ric\x00\x00\x00")
    chs[i][1] = chs[i][1][:5] + b"\x01" + chs[i][1][6:]
    assert _exercise(_build(chs)) == "refused"


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([b"IHDR", b"iTXt", b"tEXt", b"zTXt", b"IDAT", b"IEND", b"PLTE",
                                           b"ruSt"]),
                          st.binary(max_size=40)), max_size=6),
       st.booleans())
def test_fuzz_chunk_sequences(extra, prefix_ric):
    """Arbitrary chunk sequences (valid CRCs), some of them carrying a `ric` keyword. Alone they are never a
    ciphertext; inserted after a good ciphertext's IHDR, a second IHDR or a second `ric` chunk is always refused,
    and unknown ancillary chunks are ignored (the ciphertext is still accepted; malformed non-`ric` text chunks may
    be refused by Pillow's decoder, which is the safe side)."""
    chs = [[t, (b"ric\x00" + b if prefix_ric and t in (b"iTXt", b"tEXt", b"zTXt") else b)] for t, b in extra]
    assert _exercise(_build(chs)) == "refused"
    out = _exercise(_build(_chunks(GOOD)[:1] + chs + _chunks(GOOD)[1:]))
    types = {t for t, _ in chs}
    if b"IHDR" in types or any(t in (b"iTXt", b"tEXt", b"zTXt") and b.split(b"\x00", 1)[0] == b"ric" for t, b in chs):
        assert out == "refused"
    elif types <= {b"ruSt"}:
        assert out == "accepted"


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2000))
def test_fuzz_raw_bytes_after_signature(blob):
    """Random bytes, with or without the PNG signature in front, are never a ciphertext."""
    assert _exercise(SIG + blob) == "refused"
    assert _exercise(blob) == "refused"


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.integers(0, 2 ** 32 - 1), st.sampled_from([1, 2, 4, 8, 16]),
       st.sampled_from([0, 2, 3, 4, 6, 7]))
def test_fuzz_ihdr_sizes_and_depths(w, h, depth, color):
    """Any IHDR (including 4-billion-pixel sides) is refused or parsed without decoding a huge image."""
    chs = _chunks(GOOD)
    chs[0][1] = struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, 0)
    assert _exercise(_build(chs)) != "accepted" or (w, h, depth, color) == (8, 8, 8, 2)


def test_compressed_metadata_bomb_is_bounded():
    bomb = b"ric\x00\x01\x00\x00\x00" + zlib.compress(b"{" + b" " * 20_000_000, 9)
    chs = [c for c in _chunks(GOOD) if c[0] != b"iTXt"]
    chs.insert(1, [b"iTXt", bomb])
    try:
        container.sniff(_build(chs))
        raise AssertionError("a 20 MB metadata chunk was accepted")
    except ContainerError as e:
        assert "too large" in str(e)


def test_good_ciphertext_still_accepted():
    assert _exercise(GOOD) == "accepted"
    assert _exercise(io.BytesIO(GOOD).getvalue()) == "accepted"


# -- structures the generic strategies rarely build: deep nesting, duplicate, oversized and misplaced chunks ----
def _with_metadata(text: bytes):
    chs = [c for c in _chunks(GOOD) if c[0] != b"iTXt"]
    chs.insert(1, [b"iTXt", b"ric\x00\x00\x00\x00\x00" + text])
    return _build(chs)


@settings(max_examples=40, deadline=None)
@given(st.integers(4, 15_000), st.sampled_from(["[", "{\"a\":"]), st.sampled_from(sorted(META)))
def test_fuzz_deeply_nested_metadata_is_a_container_error(depth, opener, field):
    """Nesting beyond a few levels (anywhere: as the whole document or as a field's value) is ContainerError —
    json.loads alone raised RecursionError (a traceback) from about 1,000 levels."""
    closer = "]" if opener == "[" else "}"
    nested = opener * depth + "1" + closer * depth
    for text in (nested, json.dumps({**META, field: 0})[:-1] + f', "deep": {nested}}}'):
        try:
            container.sniff(_with_metadata(text.encode()))
            raise AssertionError("deeply nested metadata was accepted")
        except ContainerError as e:
            assert "\n" not in str(e)


def test_nested_metadata_error_names_the_reason():
    try:
        container.sniff(_with_metadata(b"[" * 100_000))
    except ContainerError as e:
        assert "nested" in str(e) or "too large" in str(e)
    else:
        raise AssertionError("accepted")


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 6), st.sampled_from([b"IHDR", b"iTXt"]))
def test_fuzz_duplicate_ihdr_or_metadata_chunk_is_refused(where, ctype):
    """A second IHDR (anywhere) or a second `ric` chunk (anywhere) is refused, whatever its content."""
    chs = _chunks(GOOD)
    dup = next(c for c in chs if c[0] == ctype)
    pos = 1 + where % (len(chs) - 1)          # after the first IHDR, before IEND at the latest
    assert _exercise(_build(chs[:pos] + [list(dup)] + chs[pos:])) == "refused"


def test_two_ihdr_message():
    chs = _chunks(GOOD)
    try:
        container.sniff(_build(chs[:1] + [list(chs[0])] + chs[1:]))
    except ContainerError as e:
        assert "two IHDR" in str(e)
    else:
        raise AssertionError("two IHDR chunks accepted")


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 4), st.integers(1, 2 ** 31 - 1))
def test_fuzz_oversized_chunk_lengths_are_refused(which, extra):
    """A chunk whose length field points past the end of the file is refused (never read past the end)."""
    chs = _chunks(GOOD)
    data = bytearray(_build(chs))
    pos = 8
    for _ in range(which % len(chs)):
        pos += 12 + struct.unpack(">I", data[pos:pos + 4])[0]
    n = struct.unpack(">I", data[pos:pos + 4])[0]
    data[pos:pos + 4] = struct.pack(">I", min(2 ** 32 - 1, n + extra))
    assert _exercise(bytes(data)) == "refused"


def test_ihdr_must_come_first():
    chs = _chunks(GOOD)
    i = next(j for j, c in enumerate(chs) if c[0] == b"iTXt")
    assert _exercise(_build([chs[i]] + [c for j, c in enumerate(chs) if j != i])) == "refused"
