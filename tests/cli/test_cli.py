"""The CLI contract: commands, JSON shapes, one-line errors with distinct exit codes, no overwrites."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image, PngImagePlugin

from ric.cli import main
from ric.errors import (
    ContainerError,
    InputImageError,
    KeyFileError,
    ModelLoadError,
    ModelMismatchError,
    OutputExistsError,
    TamperedMetadataError,
    TamperedPixelsError,
    WrongKeyError,
)


@pytest.fixture
def work(tmp_path, toy_pair, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    os.makedirs("plain")
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(f"plain/im{i}.png")
    assert main(["keygen", "k.key"]) == 0
    assert main(["keygen", "k2.key"]) == 0
    return toy_pair


def _models(f):
    return ["--model", f["model"], "--classifier", f["classifier"], "-q"]


def _enc(f, out="enc", *files):
    return main(["encrypt", "--scheme", "paper",
                 "--key", "k.key", "--out", out, *_models(f), *(files or ["plain/im0.png", "plain/im1.png",
                                                                                   "plain/im2.png"])])


def test_roundtrip_and_classify_json(work, capsys):
    assert _enc(work) == 0
    assert sorted(os.listdir("enc")) == ["im0.png", "im1.png", "im2.png"]
    capsys.readouterr()
    assert main(["classify", "--classifier", work["classifier"], "--json", "plain/im0.png", "plain/im1.png",
                 "plain/im2.png"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main(["classify", "--classifier", work["classifier"], "--json", "enc/im0.png", "enc/im1.png",
                 "enc/im2.png"]) == 0
    ciph = json.loads(capsys.readouterr().out)
    assert [set(r) for r in plain] == [{"file", "label", "class"}] * 3
    assert [r["label"] for r in plain] == [r["label"] for r in ciph]
    assert main(["classify", "--classifier", work["classifier"], "--json", "--window", "2", "enc"]) == 0
    folder = sorted(json.loads(capsys.readouterr().out), key=lambda r: r["file"])
    assert [(os.path.basename(r["file"]), r["label"]) for r in folder] == [(f"im{i}.png", r["label"])
                                                                           for i, r in enumerate(ciph)]
    assert all(r["class"] == "abc"[r["label"]] for r in ciph)
    assert main(["decrypt", "--key", "k.key", "--out", "dec", *_models(work), "enc/im0.png", "enc/im1.png",
                 "enc/im2.png"]) == 0
    for i in range(3):
        assert Image.open(f"dec/im{i}.png").size == (16, 16)


@pytest.mark.parametrize("case,exc", [("wrongkey", WrongKeyError), ("tampered", TamperedPixelsError),
                                      ("stripped", ContainerError), ("notpng", ContainerError),
                                      ("meta", TamperedMetadataError), ("othermodel", ModelMismatchError)])
def test_decrypt_errors_have_own_exit_code_and_write_nothing(work, capsys, case, exc):
    assert _enc(work, "enc", "plain/im0.png") == 0
    im = Image.open("enc/im0.png")
    im.load()
    meta = im.text["ric"]
    a = np.array(im)
    info = PngImagePlugin.PngInfo()
    key, path, models = "k.key", "enc/im0.png", _models(work)
    if case == "wrongkey":
        key = "k2.key"
    elif case == "tampered":
        a[1, 1, 0] ^= 1
        info.add_itxt("ric", meta)
        Image.fromarray(a).save(path := "bad.png", pnginfo=info)
    elif case == "stripped":
        Image.fromarray(a).save(path := "bad.png")
    elif case == "notpng":
        path = "k.key"
    elif case == "meta":
        d = json.loads(meta)
        d["lam"] = 0.7
        info.add_itxt("ric", json.dumps(d))
        Image.fromarray(a).save(path := "bad.png", pnginfo=info)
    elif case == "othermodel":
        models = ["--model", work["other"], "--classifier", work["classifier"], "-q"]
    capsys.readouterr()
    code = main(["decrypt", "--key", key, "--out", "out", *models, path])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == exc.exit_code != 0
    assert len(err) == 1 and err[0].startswith("ric: error: ")
    assert not os.path.exists("out") or os.listdir("out") == []


def test_no_overwrite_of_existing_outputs(work, capsys):
    os.makedirs("enc")
    with open("enc/im0.png", "wb") as f:
        f.write(b"precious")
    assert _enc(work, "enc", "plain/im0.png", "plain/im1.png") == OutputExistsError.exit_code
    assert open("enc/im0.png", "rb").read() == b"precious"
    assert os.path.exists("enc/im1.png")  # the other file still went through
    assert "already exists" in capsys.readouterr().err


def test_colliding_output_names_refused(work, capsys):
    os.makedirs("other")
    Image.open("plain/im0.png").save("other/im0.jpg")
    assert _enc(work, "enc", "plain/im0.png", "other/im0.jpg") == OutputExistsError.exit_code
    assert "collide" in capsys.readouterr().err


def test_input_conversion_policy(work, capsys):
    Image.open("plain/im0.png").convert("L").save("grey.png")
    Image.open("plain/im0.png").convert("RGBA").save("alpha.png")
    Image.fromarray(np.full((16, 16), 40000, dtype=np.uint16)).save("deep.png")
    open("empty.png", "wb").close()
    Image.new("RGB", (5000, 10)).save("huge.png")
    with pytest.warns(UserWarning, match="alpha channel dropped"):
        assert _enc(work, "enc", "grey.png", "alpha.png") == 0
    for f, msg in (("deep.png", "16-bit"), ("empty.png", "empty"), ("huge.png", "sides from"),
                   ("k.key", "not a readable image")):
        assert _enc(work, "enc2", f) == InputImageError.exit_code
        assert msg in capsys.readouterr().err
    assert not os.path.exists("enc2")


def test_key_errors(work, capsys):
    os.chmod("k2.key", 0o644)
    assert main(["encrypt", "--scheme", "paper",
                 "--key", "k2.key", "--out", "e", *_models(work), "plain/im0.png"]) == KeyFileError.exit_code
    assert main(["encrypt", "--scheme", "paper",
                 "--key", "missing.key", "--out", "e", *_models(work), "plain/im0.png"]) == 3
    before = open("k.key").read()
    assert main(["keygen", "k.key"]) == OutputExistsError.exit_code
    assert open("k.key").read() == before
    assert main(["keygen", "--force", "k.key"]) == 0 and open("k.key").read() != before
    err = capsys.readouterr().err
    assert "readable by other users" in err and "not found" in err and "--force" in err


def test_unknown_model_name(work, capsys):
    assert main(["classify", "--classifier", "nope", "plain/im0.png"]) == ModelLoadError.exit_code
    assert "no shipped classifier model named 'nope'" in capsys.readouterr().err


def test_info_prints_public_metadata(work, capsys):
    assert _enc(work, "enc", "plain/im0.png") == 0
    capsys.readouterr()
    assert main(["info", "enc/im0.png"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["format"] == "ric/4" and d["mix"] == "uniform-mask/1" and d["height"] == 16 and "label" not in d


def test_subprocess_error_is_one_line_without_traceback(work):
    r = subprocess.run([sys.executable, "-m", "ric.cli", "decrypt", "--key", "k.key", "--out", "o", "plain/im0.png"],
                       capture_output=True, text=True)
    assert r.returncode == ContainerError.exit_code
    assert "Traceback" not in r.stderr + r.stdout
    assert r.stderr.strip().splitlines() == [
        "ric: error: plain/im0.png: no RIC metadata in this PNG (stripped, or not a RIC ciphertext)",
        "ric: decrypted 0, skipped 0 already complete, failed 1 (exit 5: 1)"]     # the error, then the summary


def test_torchscript_classifier_via_cli(work, capsys):
    from ric.hub import load_classifier
    clf = load_classifier(work["classifier"]).module
    torch.jit.trace(clf, torch.rand(1, 3, 16, 16)).save("clf.ts")
    args = ["--model", work["model"], "--classifier", "clf.ts", "-q"]
    assert main(["encrypt", "--scheme", "paper", "--key", "k.key", "--out", "enc", *args, "plain/im0.png"]) == 0
    assert main(["decrypt", "--key", "k.key", "--out", "dec", *args, "enc/im0.png"]) == 0
    capsys.readouterr()
    assert main(["classify", "--classifier", "clf.ts", "--json", "enc/im0.png", "plain/im0.png"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["label"] == rows[1]["label"] and rows[0]["class"] == str(rows[0]["label"])


def test_sealed_scheme_via_cli(work, capsys):
    from image_support import smooth_images
    for i, a in enumerate(smooth_images(2)):
        Image.fromarray(a).save(f"s{i}.png")
    m = ["--classifier", work["classifier"], "-q"]
    assert main(["encrypt", "--scheme", "sealed", "--key", "k.key", "--out", "enc", *m, "s0.png", "s1.png"]) == 0
    # decrypt needs no model or classifier, reads the scheme from the file, and is bit-exact
    assert main(["decrypt", "--key", "k.key", "--out", "dec", "-q", "enc/s0.png", "enc/s1.png"]) == 0
    for i in range(2):
        assert np.array_equal(np.asarray(Image.open(f"dec/s{i}.png")), np.asarray(Image.open(f"s{i}.png")))
    capsys.readouterr()
    assert main(["decrypt", "--key", "k2.key", "--out", "bad", "enc/s0.png"]) == WrongKeyError.exit_code
    assert not os.path.exists("bad")
    # an incompressible image does not fit: a clear error naming size and capacity, nothing written
    from ric.schemes.sealed import CapacityError
    assert main(["encrypt", "--scheme", "sealed", "--key", "k.key", "--out", "enc2", *m, "plain/im0.png"]) == \
        CapacityError.exit_code
    assert "16x16" in capsys.readouterr().err and not os.path.exists("enc2")
    assert main(["encrypt", "--scheme", "sealed", "--lossy-fallback", "--key", "k.key", "--out", "enc3",
                 "--classifier", work["classifier"], "plain/im0.png"]) == 0
    assert "did not fit losslessly; stored as WebP at" in capsys.readouterr().err


def test_mix_none_roundtrip_and_header(work, capsys):
    """--mix none writes the paper's exact scheme; decrypt follows each ciphertext's header, mixed or not."""
    assert main(["encrypt", "--scheme", "paper",
                 "--key", "k.key", "--out", "e0", "--mix", "none", *_models(work), "plain/im0.png"]) == 0
    assert _enc(work, "e1", "plain/im1.png") == 0
    capsys.readouterr()
    assert main(["info", "e0/im0.png", "e1/im1.png"]) == 0
    out = capsys.readouterr().out
    assert '"mix": "none"' in out and '"mix": "uniform-mask/1"' in out
    assert out.count('"format": "ric/4"') == 2                # one format, whatever the mixing
    assert main(["decrypt", "--key", "k.key", "--out", "d", *_models(work), "e0/im0.png", "e1/im1.png"]) == 0
    assert os.path.exists("d/im0.png") and os.path.exists("d/im1.png")
