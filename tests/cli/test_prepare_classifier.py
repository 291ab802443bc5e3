"""`ric prepare-classifier`: fits the class starts beside the classifier; `ric encrypt` then begins Φ from them."""
import os

import numpy as np
from PIL import Image

from ric.cli import main
from ric.schemes import container
from ric.starts import load_starts, starts_path


def test_fits_writes_beside_the_classifier_and_encrypt_uses_them(toy_pair_copy, tmp_path, capsys):
    pair = toy_pair_copy
    args = ["prepare-classifier", "--model", pair["model"], "--classifier", pair["classifier"], "--size", "16",
            "--steps", "4", "--per-class", "1", "--cpu"]
    assert main(args) == 0
    out = starts_path(pair["classifier"])
    starts = load_starts(out)
    assert f"class starts {starts.digest}" in capsys.readouterr().out
    assert starts.alpha == 0.3 and starts.patterns.shape == (3, 3, 16, 16)
    before = open(out, "rb").read()
    # never replaced without --force (ciphertexts made with the old file need it)
    assert main(args + ["--alpha", "0.2"]) == 13
    assert "pass --force" in capsys.readouterr().err and open(out, "rb").read() == before
    assert main(args + ["--alpha", "0.2", "--force"]) == 0 and load_starts(out).alpha == 0.2

    Image.fromarray(np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    assert main(["keygen", str(tmp_path / "k.key")]) == 0
    assert main(["encrypt", "--key", str(tmp_path / "k.key"), "--out", str(tmp_path / "enc"), str(tmp_path / "a.png"),
                 "--model", pair["model"], "--classifier", pair["classifier"], "-q", "--cpu"]) == 0
    hd = container.read(str(tmp_path / "enc" / "a.png")).header
    assert hd.phi["start_id"] == load_starts(out).digest and hd.phi["start"] == 0.2
    assert main(["decrypt", "--key", str(tmp_path / "k.key"), "--out", str(tmp_path / "dec"),
                 str(tmp_path / "enc" / "a.png"), "--model", pair["model"], "--classifier", pair["classifier"],
                 "-q", "--cpu"]) == 0
    assert os.path.isfile(tmp_path / "dec" / "a.png")


def test_bad_options_are_one_line(toy_pair_copy, tmp_path, capsys):
    pair = toy_pair_copy
    base = ["prepare-classifier", "--model", pair["model"], "--classifier", pair["classifier"], "--cpu"]
    assert main(base + ["--size", "16", "--alpha", "1.5"]) == 2
    assert "--alpha" in capsys.readouterr().err
    assert main(base + ["--size", "big"]) == 2
    assert "--size expects" in capsys.readouterr().err
    assert not os.path.exists(starts_path(pair["classifier"]))


def test_encrypt_without_class_starts(toy_pair_copy, tmp_path):
    pair = toy_pair_copy
    assert main(["prepare-classifier", "--model", pair["model"], "--classifier", pair["classifier"], "--size", "16",
                 "--steps", "2", "--per-class", "1", "--cpu"]) == 0
    Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(tmp_path / "a.png")
    assert main(["keygen", str(tmp_path / "k.key")]) == 0
    assert main(["encrypt", "--key", str(tmp_path / "k.key"), "--out", str(tmp_path / "enc"), str(tmp_path / "a.png"),
                 "--model", pair["model"], "--classifier", pair["classifier"], "-q", "--cpu",
                 "--no-class-starts"]) == 0
    assert "start" not in container.read(str(tmp_path / "enc" / "a.png")).header.phi


def test_models_lists_the_classifiers_with_class_starts(capsys):
    assert main(["models"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("classifiers with class starts"))
    assert "cifar10" in line and "mnist_cnn" not in line
