"""`ric demo` as the README's set-up runs it: the ten bundled samples through encrypt, classify and decrypt with
the shipped cifar10 pair; it prints the table and writes ric-demo/ (ciphertexts, recovered images, demo.png).
A folder it did not make is refused before any work, and so is a run without matplotlib (the plots extra)."""
import os
import re
import secrets
import sys

import numpy as np
import pytest
from PIL import Image

from ric.cli import main
from ric.demo import SAMPLES
from ric.keys import seeded_token_bytes

N_SAMPLES = len([f for f in os.listdir(SAMPLES) if f.endswith(".png")])
ROW = re.compile(r"^(\S+\.png)\s+(\S+)\s+(\S+)\s+(\S+)\s+(exact|DIFFERS)\s+([\d.]+)\s+([\d.]+)$")




@pytest.mark.slow
def test_ric_demo_prints_the_table_and_writes_the_figure(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(secrets, "token_bytes", seeded_token_bytes(b"ric demo test"))
    assert main(["demo", "--cpu"]) == 0
    out = capsys.readouterr().out
    rows = [ROW.match(ln).groups() for ln in out.splitlines() if ROW.match(ln)]
    assert [r[0] for r in rows] == sorted(f for f in os.listdir(SAMPLES) if f.endswith(".png"))
    for name, plain_label, sealed_label, paper_label, exact, psnr, ssim in rows:
        assert plain_label == sealed_label == paper_label, name     # both ciphertexts keep the plaintext's label
        assert exact == "exact", name                                # the sealed scheme recovers every bit
        assert float(psnr) > 40 and float(ssim) > 0.98, name
    assert (f"labels kept: sealed {N_SAMPLES}/{N_SAMPLES}, paper {N_SAMPLES}/{N_SAMPLES}; sealed recovery bit-exact "
            f"{N_SAMPLES}/{N_SAMPLES}") in out
    assert out.rstrip().endswith("figure (plaintext | each scheme's ciphertext and recovered image): "
                                 "ric-demo/demo.png")

    demo = tmp_path / "ric-demo"
    for sub in ("cipher", "recovered"):
        for scheme in ("sealed", "paper"):
            assert sorted(os.listdir(demo / sub / scheme)) == [r[0] for r in rows]
    fig = Image.open(demo / "demo.png")
    assert fig.format == "PNG" and fig.size == (int(1.2 * N_SAMPLES * 120), int(1.33 * 5 * 120))
    grey = np.asarray(fig.convert("L"), dtype=np.float64)
    assert grey.std() > 20                                  # images drawn, not an empty canvas


def test_ric_demo_refuses_a_folder_it_did_not_make(tmp_path, capsys):
    (tmp_path / "mine.txt").write_text("keep me")
    assert main(["demo", "--out", str(tmp_path), "--cpu"]) == 13
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"ric: error: {tmp_path} exists and was not made by `ric demo`; choose another --out"]
    assert os.listdir(tmp_path) == ["mine.txt"]


def test_ric_demo_without_matplotlib_names_the_plots_extra_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)       # what an interpreter without it sees
    assert main(["demo", "--out", str(tmp_path / "d"), "--cpu"]) == 16
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["ric: error: ric demo needs the plots extra (matplotlib is not installed): "
                   "pip install 'ric[plots]'"]
    assert not (tmp_path / "d").exists()
