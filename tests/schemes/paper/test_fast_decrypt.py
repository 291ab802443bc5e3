"""The exact n_adv chunk of the regenerating paper formats (ric/3, ric/2; `--fast-decrypt` before ric/4): the encryptor
sealed n_adv's exact float32 bits in a PNG chunk; decryption then skips Φ."""
import json
import os

import numpy as np
import pytest
import torch
from legacy_support import encrypt_legacy
from PIL import Image
from png_support import chunks_of, rebuild

import ric.schemes.paper.codec
from ric.cli import main
from ric.errors import ContainerError, TamperedMetadataError
from ric.schemes.paper.codec import pack_nadv, unpack_nadv


def test_pack_unpack_is_bit_exact(key):
    g = torch.Generator().manual_seed(0)
    n = torch.rand(3, 9, 7, generator=g)
    n.view(-1)[:4] = torch.tensor([0.0, 1.0, 1e-30, 0.99999994])
    back = unpack_nadv(key, b"n" * 16, pack_nadv(key, b"n" * 16, n), (3, 9, 7))
    assert torch.equal(back.view(torch.int32), n.view(torch.int32))
    with pytest.raises(ValueError):
        unpack_nadv(key, b"n" * 16, pack_nadv(key, b"n" * 16, n), (3, 9, 8))


@pytest.fixture
def enc(tmp_path, toy_args, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    rng = np.random.default_rng(1)
    os.makedirs("plain")
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(f"plain/im{i}.png")
    assert main(["keygen", "k.key"]) == 0
    files = [f"plain/im{i}.png" for i in range(3)]
    encrypt_legacy("k.key", files, "fast", model=toy_args[1], classifier=toy_args[3], fast=True)
    return toy_args


def _dec(models, out, *files, extra=()):
    return main(["decrypt", "--key", "k.key", "--out", out, *models, *extra, *files])


def test_fast_decrypt_equals_regenerating_decrypt_and_skips_phi(enc, monkeypatch):
    files = [f"fast/im{i}.png" for i in range(3)]
    assert all(b"rcNa" in [t for t, _ in chunks_of(open(f, "rb").read())] for f in files)
    assert _dec(enc, "slow", *files, extra=["--regenerate"]) == 0

    def no_phi(*a, **k):
        raise AssertionError("Φ ran in fast mode")
    monkeypatch.setattr(ric.schemes.paper.codec, "generate_nae", no_phi)
    assert _dec(enc, "quick", *files) == 0
    for i in range(3):
        assert open(f"quick/im{i}.png", "rb").read() == open(f"slow/im{i}.png", "rb").read()


def test_ciphertext_without_the_chunk_still_decrypts_by_regeneration(enc):
    data = open("fast/im0.png", "rb").read()
    with open("stripped.png", "wb") as f:
        f.write(rebuild([(t, b) for t, b in chunks_of(data) if t != b"rcNa"]))
    assert _dec(enc, "a", "stripped.png") == 0
    assert _dec(enc, "b", "fast/im0.png") == 0
    assert open("a/stripped.png", "rb").read() == open("b/im0.png", "rb").read()


@pytest.mark.parametrize("case,code", [("flip", TamperedMetadataError.exit_code),
                                       ("twice", ContainerError.exit_code),
                                       ("swap", TamperedMetadataError.exit_code)])
def test_altered_chunk_is_refused_with_one_line_and_nothing_written(enc, capsys, case, code):
    chunks = chunks_of(open("fast/im0.png", "rb").read())
    i = next(k for k, (t, _) in enumerate(chunks) if t == b"rcNa")
    if case == "flip":
        body = bytearray(chunks[i][1])
        body[len(body) // 2] ^= 1
        chunks[i] = (b"rcNa", bytes(body))
    elif case == "twice":
        chunks.insert(i, chunks[i])
    else:  # the sealed n_adv of another ciphertext (same key) is bound to its own metadata and pixels
        other = next(b for t, b in chunks_of(open("fast/im1.png", "rb").read()) if t == b"rcNa")
        chunks[i] = (b"rcNa", other)
    with open("bad.png", "wb") as f:
        f.write(rebuild(chunks))
    capsys.readouterr()
    assert _dec(enc, "out", "bad.png") == code
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ric: error: ")
    assert not os.path.exists("out/bad.png")


def test_info_and_classify_ignore_the_chunk(enc, capsys):
    capsys.readouterr()
    assert main(["info", "fast/im0.png"]) == 0
    meta = json.loads(capsys.readouterr().out)
    assert "nadv" not in meta and meta["height"] == 16
    assert Image.open("fast/im0.png").size == (16, 16)


def test_pipelined_fast_decryption_matches_one_batch_in_memory(tmp_path, toy_args, key):
    """The file path runs D in batches of FAST_D_BATCH while I/O threads read and write: the recovered pixels are
    those of one in-memory D over all images, and of regenerating decryption; a bad file among them changes nothing."""
    from ric import hub
    from ric.files.engine import FileEngine
    from ric.schemes import container
    from ric.schemes.paper import header as paper_header
    from ric.schemes.paper import scheme as paper_scheme
    from ric.schemes.paper.codec import unpack_nadv
    model, clf = hub.load_ric_model(toy_args[1]), hub.load_classifier(toy_args[3])
    rng = np.random.default_rng(2)
    paths = []
    for i in range(paper_scheme.FAST_D_BATCH * 2 + 3):
        paths.append(str(tmp_path / f"p{i:02d}.png"))
        Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(paths[-1])
    eng = FileEngine(show_progress=False)
    scheme = paper_scheme.PaperScheme(model, clf, fast_decrypt=True)
    ciphers = [r.out for r in eng.encrypt(scheme, key, paths, str(tmp_path / "enc"))]
    assert all(ciphers)
    with open(tmp_path / "junk.png", "wb") as f:
        f.write(b"not a png")
    mixed = ciphers[:5] + [str(tmp_path / "junk.png")] + ciphers[5:]
    fast = list(eng.decrypt(scheme, key, mixed, str(tmp_path / "fast")))
    assert fast[5].error is not None and [r.error for r in fast[:5] + fast[6:]] == [None] * len(ciphers)
    assert all(r.info["fast"] for r in fast[:5] + fast[6:])
    eng.io_threads = 1
    scheme.regenerate = True
    slow = list(eng.decrypt(scheme, key, ciphers, str(tmp_path / "slow")))
    parsed = [container.read_ciphertext(c) for c in ciphers]
    nadv = torch.stack([unpack_nadv(key, hd.nonce, paper_header.decrypt_nadv(key, hd), (3, 12, 12))
                        for _, hd in parsed])
    ref = scheme.codec.decode(torch.from_numpy(np.stack([p for p, _ in parsed])), nadv, key,
                           [hd.nonce for _, hd in parsed]).numpy()
    got = np.stack([np.asarray(Image.open(r.out)) for r in fast[:5] + fast[6:]])
    assert np.array_equal(got, ref)
    assert np.array_equal(np.stack([np.asarray(Image.open(r.out)) for r in slow]), ref)
    assert [r.label for r in fast[:5] + fast[6:]] == [r.label for r in slow]
