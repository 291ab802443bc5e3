"""Hardened inputs: a corpus of bad inputs, generated here, each refused by the CLI with its own one-line
`ric: error: ...`, the right non-zero exit code, no traceback, no output written and no existing file touched."""
import contextlib
import functools
import io
import json
import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, PngImagePlugin
from png_support import SIG, chunk, chunks_of, rebuild

from ric.cli import main
from ric.errors import (
    ContainerError,
    InputImageError,
    KeyFileError,
    ModelMismatchError,
    OutputExistsError,
    TamperedMetadataError,
    TamperedPixelsError,
    WrongKeyError,
)


def raw_png(w, h, depth=8, color=2, rows=None, extra=b"") -> bytes:
    """A PNG written by hand: IHDR (any size/depth/colour type), optional extra chunks, IDAT, IEND."""
    if rows is None:
        ch = {0: 1, 2: 3, 4: 2, 6: 4, 3: 1}[color]
        rows = b"".join(b"\x00" + bytes(w * ch * depth // 8) for _ in range(min(h, 4)))
    return (SIG + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, 0)) + extra
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def itxt(text: str, compressed=False) -> bytes:
    payload = zlib.compress(text.encode()) if compressed else text.encode()
    return b"ric\x00" + (b"\x01\x00" if compressed else b"\x00\x00") + b"\x00\x00" + payload


@pytest.fixture(scope="module")
def made(tmp_path_factory, toy_pair):
    """One good plaintext, its ciphertext and a key (made once)."""
    d = tmp_path_factory.mktemp("hmade")
    with contextlib.chdir(d):
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)).save("good.png")
        assert main(["keygen", "k.key"]) == 0
        assert main(["keygen", "k2.key"]) == 0
        assert main(["encrypt", "--scheme", "paper",
                     "--key", "k.key", "--out", "enc", "--model", toy_pair["model"], "--classifier",
                     toy_pair["classifier"], "-q", "good.png"]) == 0
    return {"dir": d, "plain": (d / "good.png").read_bytes(), "cipher": (d / "enc" / "good.png").read_bytes(),
            "key": (d / "k.key").read_text(), "key2": (d / "k2.key").read_text()}


@pytest.fixture
def work(tmp_path, made, toy_pair, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("key", "key2"):
        fn = "k.key" if name == "key" else "k2.key"
        with open(os.open(fn, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(made[name])
    return {**made, **toy_pair}


def _m(w, other=False):
    return ["--model", w["other" if other else "model"], "--classifier", w["classifier"], "-q"]


def refused(capsys, argv, code, out_dir="out"):
    """Run the CLI; assert exit `code`, exactly one stderr line `ric: error: ...`, no traceback, nothing written."""
    capsys.readouterr()
    before = sorted(os.listdir(out_dir)) if os.path.isdir(out_dir) else []
    rc = main(argv)
    cap = capsys.readouterr()
    lines = cap.err.strip().splitlines()
    assert rc == code != 0, (rc, cap.err)
    assert len(lines) == 1 and lines[0].startswith("ric: error: "), cap.err
    assert "Traceback" not in cap.err + cap.out
    after = sorted(os.listdir(out_dir)) if os.path.isdir(out_dir) else []
    assert after == before, "an output was written for a refused input"
    return lines[0]


# -- plaintext inputs (encrypt) ---------------------------------------------------------------------------
@functools.lru_cache(maxsize=2)
def _plain_corpus(good: bytes) -> dict:
    a = np.random.default_rng(1).integers(0, 256, (16, 16), dtype=np.uint16) * 250
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")   # 16-bit greyscale (mode I;16)
    grey16 = buf.getvalue()
    rgb48 = raw_png(16, 16, 16, 2, rows=b"".join(b"\x00" + bytes(16 * 6) for _ in range(16)))
    buf = io.BytesIO()
    Image.fromarray(np.zeros((16, 16), np.float32)).save(buf, format="TIFF")
    flt = buf.getvalue()
    idat = [i for i, (t, _) in enumerate(chunks_of(good)) if t == b"IDAT"][0]
    chs = chunks_of(good)
    chs[idat] = (b"IDAT", b"\x78\x9c" + bytes(40))   # valid CRC, garbage zlib stream
    return {
        "empty": (b"", "empty"),
        "truncated": (good[:len(good) // 2], "not a readable image"),
        "bad-crc": (good[:40] + bytes([good[40] ^ 0xFF]) + good[41:], "not a readable image"),
        "corrupt-idat": (rebuild(chs), "not a readable image"),
        "text-file": (b"hello, I am not an image\n", "not a readable image"),
        "16-bit-grey": (grey16, "16-bit"),
        "16-bit-rgb": (rgb48, "16-bit"),
        "float-tiff": (flt, "16-bit or float"),
        "zero-width": (raw_png(0, 16), "is 0x16"),
        "tiny": (raw_png(4, 4), "sides from 8"),
        "huge-dimensions": (raw_png(100_000, 100_000), "100000x100000"),
        "decompression-bomb": (raw_png(20_000, 20_000), "20000x20000"),
        "over-4096": (raw_png(5000, 10), "5000x10"),
    }


@pytest.mark.parametrize("case", [
    "empty", "truncated", "bad-crc", "corrupt-idat", "text-file", "16-bit-grey", "16-bit-rgb", "float-tiff",
    "zero-width", "tiny", "huge-dimensions", "decompression-bomb", "over-4096"])
def test_bad_plaintext_inputs(work, capsys, case):
    data, msg = _plain_corpus(work["plain"])[case]
    with open("bad.png", "wb") as f:
        f.write(data)
    line = refused(capsys, ["encrypt", "--scheme", "paper", "--key", "k.key", "--out", "out", *_m(work), "bad.png"],
                   InputImageError.exit_code)
    assert msg in line and "bad.png" in line


def test_directory_and_missing_inputs(work, capsys):
    os.makedirs("adir")
    assert "no image files" in refused(capsys, ["encrypt", "--scheme", "paper",
                                                "--key", "k.key", "--out", "out", *_m(work), "adir"], 4)
    assert "cannot read" in refused(capsys, ["encrypt", "--scheme", "paper",
                                             "--key", "k.key", "--out", "out", *_m(work), "nope.png"], 4)


def test_accepted_conversions_alpha_palette_1bit(work, capsys):
    """Policy, not errors: alpha is dropped with ONE warning line; palette and 1-bit images are converted."""
    im = Image.open(io.BytesIO(work["plain"]))
    im.convert("RGBA").save("alpha.png")
    im.convert("P").save("pal.png")
    im.convert("1").save("bits.png")
    capsys.readouterr()
    with pytest.warns(UserWarning, match="alpha channel dropped"):
        assert main(["encrypt", "--scheme", "paper",
                     "--key", "k.key", "--out", "out", *_m(work), "alpha.png", "pal.png", "bits.png"]) == 0
    assert sorted(os.listdir("out")) == ["alpha.png", "bits.png", "pal.png"]


# -- ciphertext inputs (decrypt) ----------------------------------------------------------------------------
def _swap_meta(cipher: bytes, new_body=None, extra=()):
    chs = [(t, b) for t, b in chunks_of(cipher) if not (t == b"iTXt" and b.startswith(b"ric\x00"))]
    meta = [b for t, b in chunks_of(cipher) if t == b"iTXt" and b.startswith(b"ric\x00")][0]
    ins = ([] if new_body is None else [(b"iTXt", new_body(meta))]) + [(b"iTXt", e) for e in extra]
    return rebuild(chs[:1] + ins + chs[1:])


def _meta_json(cipher: bytes) -> dict:
    im = Image.open(io.BytesIO(cipher))
    im.load()
    return json.loads(im.text["ric"])


def _with_meta(cipher, **changes):
    d = {**_meta_json(cipher), **changes}
    return _swap_meta(cipher, lambda _: itxt(json.dumps(d)))


@functools.lru_cache(maxsize=2)
def _cipher_corpus(c: bytes) -> dict:
    pix = np.array(Image.open(io.BytesIO(c)).convert("RGB"))
    meta = _meta_json(c)
    info = PngImagePlugin.PngInfo()
    info.add_itxt("ric", json.dumps(meta))

    def save(im):
        buf = io.BytesIO()
        im.save(buf, format="PNG", pnginfo=info)
        return buf.getvalue()

    flipped = pix.copy()
    flipped[3, 3, 1] ^= 4
    ihdr_huge = rebuild([(b"IHDR", struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0))]
                        + [(t, b) for t, b in chunks_of(c) if t != b"IHDR"])
    idat = [i for i, (t, _) in enumerate(chunks_of(c)) if t == b"IDAT"][0]
    chs = chunks_of(c)
    chs[idat] = (b"IDAT", b"\x78\x9c" + bytes(40))
    bomb = b"ric\x00\x01\x00\x00\x00" + zlib.compress(b" " * 20_000_000, 9)
    return {
        "empty": (b"", ContainerError, "not a PNG"),
        "truncated": (c[:len(c) // 2], ContainerError, "truncated"),
        "bad-crc": (c[:-20] + bytes([c[-20] ^ 1]) + c[-19:], ContainerError, "CRC"),
        "corrupt-idat": (rebuild(chs), ContainerError, "corrupt PNG image data"),
        "plain-png": (raw_png(16, 16), ContainerError, "no RIC metadata"),
        "metadata-missing": (_swap_meta(c), ContainerError, "no RIC metadata"),
        "metadata-duplicated": (_swap_meta(c, lambda m: m, [itxt(json.dumps(meta))]), ContainerError,
                                "2 RIC metadata chunks"),
        "metadata-oversized": (_swap_meta(c, lambda m: itxt(json.dumps({**meta, "pad": "x" * 40000}))),
                               ContainerError, "too large"),
        "metadata-zlib-bomb": (_swap_meta(c, lambda m: bomb), ContainerError, "too large"),
        "metadata-garbled": (_swap_meta(c, lambda m: itxt("{not json")), ContainerError, "not valid JSON"),
        "metadata-binary": (_swap_meta(c, lambda m: b"ric\x00\x00\x00\x00\x00\xff\xfe\x00"), ContainerError,
                            "garbled"),
        "metadata-not-object": (_swap_meta(c, lambda m: itxt("[1, 2]")), ContainerError, "not a JSON object"),
        "metadata-field-missing": (_swap_meta(c, lambda m: itxt(json.dumps({k: v for k, v in meta.items()
                                                                            if k != "nonce"}))),
                                   ContainerError, "lacks field"),
        "height-infinite": (_with_meta(c, height=float("inf")), ContainerError, "wrong type"),
        "height-huge": (_with_meta(c, height=10 ** 40), TamperedMetadataError, "altered"),
        "nonce-not-base64": (_with_meta(c, nonce="!!!"), ContainerError, "base64"),
        "future-format": (_with_meta(c, format="ric/9"), ContainerError, "unsupported"),
        "huge-dimensions": (ihdr_huge, ContainerError, "too large"),
        "rgba": (save(Image.fromarray(pix).convert("RGBA")), ContainerError, "mode RGBA"),
        "palette": (save(Image.fromarray(pix).convert("P")), ContainerError, "mode P"),
        "greyscale-16bit": (save(Image.fromarray(pix[..., 0].astype(np.uint16) * 257)), ContainerError, "mode I"),
        "lam-altered": (_with_meta(c, lam=0.7), TamperedMetadataError, "altered"),
        "nonce-altered": (_with_meta(c, nonce="QUFBQUFBQUFBQUFBQUFBQQ=="), WrongKeyError, "key does not match"),
        "pixels-altered": (save(Image.fromarray(flipped)), TamperedPixelsError, "pixels"),
    }


CIPHER_CASES = ["empty", "truncated", "bad-crc", "corrupt-idat", "plain-png", "metadata-missing",
                "metadata-duplicated", "metadata-oversized", "metadata-zlib-bomb", "metadata-garbled",
                "metadata-binary", "metadata-not-object", "metadata-field-missing", "height-infinite",
                "height-huge", "nonce-not-base64", "future-format", "huge-dimensions", "rgba", "palette",
                "greyscale-16bit", "lam-altered", "nonce-altered", "pixels-altered"]


@pytest.mark.parametrize("case", CIPHER_CASES)
def test_bad_ciphertexts(work, capsys, case):
    data, exc, msg = _cipher_corpus(work["cipher"])[case]
    with open("c.png", "wb") as f:
        f.write(data)
    line = refused(capsys, ["decrypt", "--key", "k.key", "--out", "out", *_m(work), "c.png"], exc.exit_code)
    assert msg in line, line


def test_corpus_is_complete():
    assert sorted(CIPHER_CASES) == sorted(_cipher_corpus(_good_cipher_for_listing()).keys())


def _good_cipher_for_listing():
    from ric.keys import Key
    from ric.schemes.paper import header as paper_header
    pix = np.zeros((8, 8, 3), np.uint8)
    hd = paper_header.make_header(Key(bytes(32)), pix, bytes(16), 0, 0, model="m@0", classifier="c@0", lam=0.8,
                        phi={"lr": 0.1, "max_steps": 5, "margin": 5.0, "chunk": 8}, fingerprint=bytes(8))
    return paper_header.encode_png(pix, hd)


def test_wrong_key_and_other_model(work, capsys):
    os.makedirs("c")
    with open("c/x.png", "wb") as f:
        f.write(work["cipher"])
    refused(capsys, ["decrypt", "--key", "k2.key", "--out", "out", *_m(work), "c/x.png"], WrongKeyError.exit_code)
    line = refused(capsys, ["decrypt", "--key", "k.key", "--out", "out", *_m(work, other=True), "c/x.png"],
                   ModelMismatchError.exit_code)
    assert "made with RIC model" in line


def test_ciphertext_of_another_classifier(work, capsys):
    """Pixels and metadata of a genuine ciphertext, re-sealed (right key) as if made with another classifier."""
    from ric.keys import Key
    from ric.schemes import container
    from ric.schemes.paper import header as paper_header
    pix, hd = container.read_ciphertext(work["cipher"])
    key = Key.load("k.key")
    sealed = paper_header.authenticate(key, pix, hd)
    hd2 = paper_header.make_header(key, pix, hd.nonce, sealed.label, sealed.steps, model=hd.model,
                         classifier="someone_else@0123456789ab", lam=hd.lam, phi=hd.phi, fingerprint=hd.fingerprint)
    with open("x.png", "wb") as f:
        f.write(paper_header.encode_png(pix, hd2))
    assert "classifier" in refused(capsys, ["decrypt", "--key", "k.key", "--out", "out", *_m(work), "x.png"],
                                   ModelMismatchError.exit_code)



@pytest.mark.parametrize("extra, says", [({"warmstart": "fwd"}, ("warmstart", "made by a newer RIC")),
                                         ({"lr": "fast"}, ("'fast'", "not readable"))])
def test_ciphertext_with_phi_settings_this_version_cannot_regenerate(work, capsys, extra, says):
    """A genuine ciphertext re-sealed (right key) with a Φ setting this version does not know, or cannot read:
    refused before Φ runs, naming it (regenerating without it would give other bits and read as a platform
    mismatch)."""
    from ric.keys import Key
    from ric.schemes import container
    from ric.schemes.paper import header as paper_header
    pix, hd = container.read_ciphertext(work["cipher"])
    key = Key.load("k.key")
    sealed = paper_header.authenticate(key, pix, hd)
    hd2 = paper_header.make_header(key, pix, hd.nonce, sealed.label, sealed.steps, model=hd.model,
                                   classifier=hd.classifier, lam=hd.lam, phi={**hd.phi, **extra},
                                   fingerprint=hd.fingerprint)
    with open("x.png", "wb") as f:
        f.write(paper_header.encode_png(pix, hd2))
    line = refused(capsys, ["decrypt", "--key", "k.key", "--out", "out", *_m(work), "x.png"], ContainerError.exit_code)
    assert all(s in line for s in says)


# -- key files ---------------------------------------------------------------------------------------------
KEY_CASES = {
    "empty": ("", 0o600, "empty"),
    "short": ("RIC-KEY-V1 00ff\n", 0o600, "16 bits"),
    "long": ("RIC-KEY-V1 " + "ab" * 40 + "\n", 0o600, "320 bits"),
    "not-hex": ("RIC-KEY-V1 " + "zz" * 32 + "\n", 0o600, "not hexadecimal"),
    "no-magic": ("00" * 32 + "\n", 0o600, "not a RIC key file"),
    "two-keys": ("RIC-KEY-V1 " + "00" * 32 + "\nRIC-KEY-V1 " + "11" * 32 + "\n", 0o600, "not a RIC key file"),
    "binary": (None, 0o600, "not a RIC key file"),
    "world-readable": ("RIC-KEY-V1 " + "00" * 32 + "\n", 0o644, "readable by other users"),
    "group-readable": ("RIC-KEY-V1 " + "00" * 32 + "\n", 0o640, "readable by other users"),
    "oversized": ("#" * 10000 + "\n", 0o600, "too large"),
}


@pytest.mark.parametrize("case", sorted(KEY_CASES))
@pytest.mark.parametrize("cmd", ["encrypt", "decrypt"])
def test_bad_key_files(work, capsys, case, cmd):
    text, mode, msg = KEY_CASES[case]
    with open("bad.key", "wb") as f:
        f.write(os.urandom(64) + b"\xff\x00" if text is None else text.encode())
    os.chmod("bad.key", mode)
    with open("in.png", "wb") as f:
        f.write(work["plain"] if cmd == "encrypt" else work["cipher"])
    assert msg in refused(capsys, [cmd, "--key", "bad.key", "--out", "out", *_m(work), "in.png"],
                          KeyFileError.exit_code)


def test_missing_key_and_directory_key(work, capsys):
    with open("in.png", "wb") as f:
        f.write(work["plain"])
    assert "not found" in refused(capsys, ["encrypt", "--scheme", "paper",
                                           "--key", "nope.key", "--out", "out", *_m(work), "in.png"], 3)
    os.makedirs("kdir")
    assert "regular file" in refused(capsys, ["encrypt", "--scheme", "paper",
                                              "--key", "kdir", "--out", "out", *_m(work), "in.png"], 3)


# -- never overwrite ------------------------------------------------------------------------------------------
def test_existing_outputs_never_overwritten(work, capsys):
    os.makedirs("out")
    with open("in.png", "wb") as f:
        f.write(work["plain"])
    with open("c.png", "wb") as f:
        f.write(work["cipher"])
    for name in ("in.png", "c.png"):
        with open(f"out/{name}", "wb") as f:
            f.write(b"precious")
    refused(capsys, ["encrypt", "--scheme", "paper",
                     "--key", "k.key", "--out", "out", *_m(work), "in.png"], OutputExistsError.exit_code)
    refused(capsys, ["decrypt", "--key", "k.key", "--out", "out", *_m(work), "c.png"], OutputExistsError.exit_code)
    refused(capsys, ["keygen", "k.key"], OutputExistsError.exit_code)
    assert open("out/in.png", "rb").read() == open("out/c.png", "rb").read() == b"precious"
    assert open("k.key").read() == work["key"]
    # a refused input never clobbers anything either: same name as an existing output, input broken
    with open("broken.png", "wb") as f:
        f.write(b"\x89PNG junk")
    with open("out/broken.png", "wb") as f:
        f.write(b"precious")
    rc = main(["encrypt", "--scheme", "paper", "--key", "k.key", "--out", "out", *_m(work), "--force", "broken.png"])
    assert rc == InputImageError.exit_code and open("out/broken.png", "rb").read() == b"precious"


def test_attack_refuses_to_overwrite_results(work, capsys):
    os.makedirs("res")
    with open("res/brute-force.json", "w") as f:
        f.write("precious")
    line = refused(capsys, ["attack", "brute-force", "--out", "res", "--n", "1", "--keys", "1"],
                   OutputExistsError.exit_code, out_dir="res")
    assert "already exists" in line and open("res/brute-force.json").read() == "precious"
