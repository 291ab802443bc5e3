"""The CLI around the engine: mixed models in one decrypt call, `info`, key-file advice, errors, evaluate sealed."""
import json
import os
import sys

import numpy as np
import pytest
from PIL import Image

import ric
from ric.cli import main
from ric.cli.report import Reporter
from ric.errors import InputImageError, KeyFileError
from ric.files.plan import FileResult
from ric.schemes import container

SAMPLES = os.path.join(os.path.dirname(ric.__file__), "samples")


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["keygen", "k.key"]) == 0
    return tmp_path


def test_one_decrypt_call_over_two_models_names_each_ones_classes(here, capsys):
    """Ciphertexts of the shipped cifar10 and mnist pairs, decrypted together: each row carries its own model's
    class name (a digit for mnist, a CIFAR-10 word for cifar10)."""
    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255
    Image.fromarray(digit).save("digit.png")
    cifar = sorted(f for f in os.listdir(SAMPLES) if f.endswith(".png"))[0]
    Image.open(os.path.join(SAMPLES, cifar)).convert("RGB").save("photo.png")
    assert main(["encrypt", "--scheme", "paper",
                 "--key", "k.key", "--out", "enc", "digit.png", "--model", "mnist", "-q", "--cpu"]) == 0
    assert main(["encrypt", "--scheme", "paper", "--key", "k.key", "--out", "enc", "photo.png", "-q", "--cpu"]) == 0
    capsys.readouterr()
    assert main(["decrypt", "--key", "k.key", "--out", "dec", "enc/digit.png", "enc/photo.png", "--json", "-q",
                 "--cpu"]) == 0
    rows = {r["file"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["enc/digit.png"]["class"] in [str(d) for d in range(10)]
    cifar_classes = ric.load_classifier("cifar10").classes
    assert rows["enc/photo.png"]["class"] in cifar_classes


def test_info_says_whether_decryption_regenerates_and_what_it_needs(here, capsys):
    from legacy_support import encrypt_legacy
    Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save("a.png")
    assert main(["encrypt", "--scheme", "paper", "--key", "k.key", "--out", "v4", "a.png", "-q", "--cpu"]) == 0
    assert main(["encrypt", "--key", "k.key", "--out", "sealed", "a.png", "-q", "--cpu"]) == 0
    encrypt_legacy("k.key", ["a.png"], "slow")
    encrypt_legacy("k.key", ["a.png"], "fast", fast=True)
    capsys.readouterr()
    assert main(["info", "v4/a.png", "slow/a.png", "fast/a.png", "sealed/a.png"]) == 0
    v4, slow, fast, sealed = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert [d["format"] for d in (v4, slow, fast, sealed)] == ["ric/4", "ric/3", "ric/3", "sealed/2"]
    assert [d["regenerates"] for d in (v4, slow, fast, sealed)] == [False, True, False, False]
    assert [d["written"] for d in (v4, slow, fast, sealed)] == [True, False, False, True]
    assert "any machine" in v4["needs"] and "same ATen kernels" in slow["needs"] and "key alone" in sealed["needs"]
    import torch
    assert v4["torch"] == torch.__version__          # recorded, and authenticated as part of the header
    assert v4["cpu"] == torch.backends.cpu.get_cpu_capability() and v4["device"] == "cpu"


def test_info_formats_prints_the_table(capsys):
    from ric.formats import FORMATS
    assert main(["info", "--formats"]) == 0
    out = capsys.readouterr().out
    assert [ln.split("|")[1].strip(" `") for ln in out.splitlines()[2:]] == [f.name for f in FORMATS]
    assert "| `sealed/2` | sealed | **default** |" in out and "| `ric/3` | paper | read only |" in out


def test_regeneration_failure_names_both_torch_versions(here, capsys, monkeypatch):
    """A ciphertext made under another torch version whose n_adv does not regenerate says so."""
    from legacy_support import encrypt_legacy

    from ric.keys import Key
    from ric.schemes.paper import header as paper_header
    Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save("a.png")
    encrypt_legacy("k.key", ["a.png"], "enc")
    key = Key.load("k.key")
    pix, hd = container.read_ciphertext("enc/a.png")
    priv = paper_header.authenticate(key, pix, hd)
    hd2 = paper_header.make_header(key, pix, hd.nonce, priv.label, priv.steps, model=hd.model,
                                   classifier=hd.classifier, lam=hd.lam, phi=hd.phi, fingerprint=bytes(8),
                                   mix=hd.mix, torch="1.0.0", format=hd.format)
    with open("enc/b.png", "wb") as f:
        f.write(paper_header.encode_png(pix, hd2))
    capsys.readouterr()
    assert main(["decrypt", "--key", "k.key", "--out", "dec", "enc/b.png", "-q", "--cpu"]) == 10
    err = capsys.readouterr().err
    assert "made with torch 1.0.0; this is torch " + __import__("torch").__version__ in err


def test_a_png_given_as_key_is_not_told_to_chmod(here, capsys):
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save("photo.png")
    os.chmod("photo.png", 0o644)
    code = main(["decrypt", "--key", "photo.png", "--out", "dec", "photo.png"])
    err = capsys.readouterr().err
    assert code == KeyFileError.exit_code and "not a RIC key file" in err and "chmod" not in err


def test_an_error_line_starts_on_its_own_line_after_a_progress_bar(capsys, monkeypatch):
    """In a log file the bar's updates end in a carriage return: the error must not be glued to it."""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    rep = Reporter(as_json=False, stream=False, progress=True)
    rep.add(FileResult("x.png", error=InputImageError("x.png is empty (0 bytes)")))
    err = capsys.readouterr().err
    assert err.startswith("\n") and "\nric: error: x.png is empty (0 bytes)\n" in err
    assert rep.close() == InputImageError.exit_code


def test_programming_errors_keep_their_traceback(monkeypatch):
    """No catch-all: a KeyError inside a command is a bug and reaches the user as a traceback."""
    from ric.cli import inspect
    monkeypatch.setattr(inspect, "run_models", lambda args: {}["boom"])
    with pytest.raises(KeyError):
        main(["models"])


def test_evaluate_the_sealed_scheme_succeeds_and_is_bit_exact(tmp_path, capsys):
    yy, xx = np.mgrid[:28, :28]
    x = np.stack([((np.hypot(yy - 14, xx - 14) < 5 + i) * 255).astype(np.uint8) for i in range(4)])
    y = np.zeros(4, np.int64)
    np.savez_compressed(tmp_path / "d.npz", x_train=x, y_train=y, x_test=x, y_test=y,
                        classes=np.array([str(d) for d in range(10)]))
    assert main(["evaluate", "--scheme", "sealed", "--classifier", "mnist", "--data", str(tmp_path / "d.npz"),
                 "--n", "4", "--json", "-q", "--cpu", "--threads", "1"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert (r["scheme"], r["n"], r["failed"], r["bit_exact_share"], r["ADP_points"]) == ("sealed", 4, 0, 1.0, 0.0)
    assert 0.0 <= r["payload_robustness_20_random_payloads"] <= 1.0
