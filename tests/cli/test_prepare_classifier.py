"""`ric prepare-classifier`: fits the class starts beside the classifier; `ric encrypt` then begins Φ from them."""
import os

import numpy as np
from PIL import Image

from ric.cli import main
from ric.schemes import container
from ric.starts import kept_starts_path, load_starts, starts_path


def test_fits_writes_beside_the_classifier_and_encrypt_uses_them(toy_pair_copy, tmp_path, capsys):
    pair = toy_pair_copy
    args = ["prepare-classifier", "--model", pair["model"], "--classifier", pair["classifier"], "--size", "16",
            "--steps", "4", "--per-class", "1", "--cpu"]
    assert main(args) == 0
    out = starts_path(pair["classifier"])
    starts = load_starts(out)
    assert f"class starts {starts.digest}" in capsys.readouterr().out
    assert starts.alpha == 0.3 and starts.patterns.shape == (3, 3, 16, 16)
    assert starts.moves == "shift-flip" and starts.meta["apart"] == 10.0     # the default: starts that move
    before = open(out, "rb").read()
    # never replaced without --force (ciphertexts made with the old file need it)
    assert main(args + ["--alpha", "0.2"]) == 13
    assert "pass --force" in capsys.readouterr().err and open(out, "rb").read() == before
    assert main(args + ["--alpha", "0.2", "--force"]) == 0 and load_starts(out).alpha == 0.2
    kept = kept_starts_path(out, starts.digest)        # and with --force the replaced file is kept, not destroyed
    assert f"kept the replaced class starts as {kept}" in capsys.readouterr().out
    assert open(kept, "rb").read() == before

    Image.fromarray(np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    assert main(["keygen", str(tmp_path / "k.key")]) == 0
    assert main(["encrypt", "--scheme", "paper",
                 "--key", str(tmp_path / "k.key"), "--out", str(tmp_path / "enc"), str(tmp_path / "a.png"),
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


def test_fit_margin_is_used_and_recorded(toy_pair_copy, tmp_path, capsys):
    pair = toy_pair_copy
    base = ["prepare-classifier", "--model", pair["model"], "--classifier", pair["classifier"], "--size", "16",
            "--steps", "3", "--per-class", "1", "--cpu"]
    assert main(base + ["--fit-margin", "0"]) == 2
    assert "--fit-margin must be positive" in capsys.readouterr().err
    assert main(base + ["--out", str(tmp_path / "own.starts.safetensors")]) == 0
    own = load_starts(str(tmp_path / "own.starts.safetensors"))
    assert main(base + ["--fit-margin", "0.001", "--out", str(tmp_path / "m.starts.safetensors")]) == 0
    assert "fitted for margin 0.001" in capsys.readouterr().out
    fitted = load_starts(str(tmp_path / "m.starts.safetensors"))
    assert fitted.meta["margin"] == 0.001 and own.meta["margin"] == 5.0     # default: Φ's own margin
    assert fitted.digest != own.digest                                   # rows past 0.001 stop pulling p_y


def test_encrypt_without_class_starts(toy_pair_copy, tmp_path):
    pair = toy_pair_copy
    assert main(["prepare-classifier", "--model", pair["model"], "--classifier", pair["classifier"], "--size", "16",
                 "--steps", "2", "--per-class", "1", "--cpu"]) == 0
    Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(tmp_path / "a.png")
    assert main(["keygen", str(tmp_path / "k.key")]) == 0
    assert main(["encrypt", "--scheme", "paper",
                 "--key", str(tmp_path / "k.key"), "--out", str(tmp_path / "enc"), str(tmp_path / "a.png"),
                 "--model", pair["model"], "--classifier", pair["classifier"], "-q", "--cpu",
                 "--no-class-starts"]) == 0
    assert "start" not in container.read(str(tmp_path / "enc" / "a.png")).header.phi


def test_models_lists_the_classifiers_with_class_starts(capsys):
    assert main(["models"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("classifiers with class starts"))
    assert "cifar10" in line and "mnist_cnn" not in line


def test_ciphertexts_of_replaced_class_starts_still_decrypt(toy_pair_copy, tmp_path, capsys):
    """Refitting the starts (--force) must not orphan what was encrypted with the old ones: decryption finds the
    kept file by the digest in the header; without it, one clear line naming the digest."""
    pair = toy_pair_copy
    models = ["--model", pair["model"], "--classifier", pair["classifier"], "-q", "--cpu"]
    fit = ["prepare-classifier", *models[:4], "--size", "16", "--steps", "3", "--per-class", "1", "--cpu"]
    key = str(tmp_path / "k.key")
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    assert main(fit) == 0 and main(["keygen", key]) == 0
    assert main(["encrypt", "--scheme", "paper",
                 "--key", key, "--out", str(tmp_path / "enc"), str(tmp_path / "a.png"), *models]) == 0
    old = container.read(str(tmp_path / "enc" / "a.png")).header.phi["start_id"]
    assert main(fit + ["--seed", "5", "--force"]) == 0
    assert load_starts(starts_path(pair["classifier"])).digest != old
    dec = ["decrypt", "--key", key, str(tmp_path / "enc" / "a.png"), *models]
    assert main(dec + ["--out", str(tmp_path / "dec")]) == 0 and os.path.isfile(tmp_path / "dec" / "a.png")
    os.remove(kept_starts_path(starts_path(pair["classifier"]), old))
    capsys.readouterr()
    assert main(dec + ["--out", str(tmp_path / "dec2")]) == 9
    err = capsys.readouterr().err
    assert f"made with class starts {old}" in err and "NAME@DIGEST.starts.safetensors" in err
    assert not os.path.exists(tmp_path / "dec2" / "a.png")


def test_moves_none_fits_fixed_starts_and_apart_is_checked(toy_pair_copy, tmp_path, capsys):
    pair = toy_pair_copy
    base = ["prepare-classifier", "--model", pair["model"], "--classifier", pair["classifier"], "--size", "16",
            "--steps", "3", "--per-class", "1", "--cpu"]
    assert main(base + ["--apart", "-1"]) == 2
    assert "--apart at least 0" in capsys.readouterr().err
    assert main(base + ["--moves", "none", "--out", str(tmp_path / "fixed.starts.safetensors")]) == 0
    fixed = load_starts(str(tmp_path / "fixed.starts.safetensors"))
    assert fixed.moves == "" and "moves" not in fixed.meta
    assert main(base + ["--apart", "0", "--out", str(tmp_path / "moving.starts.safetensors")]) == 0
    moving = load_starts(str(tmp_path / "moving.starts.safetensors"))
    assert moving.moves == "shift-flip" and moving.meta["apart"] == 0.0 and moving.digest != fixed.digest
