"""ric.files.engine: every feature of `ric encrypt` / `ric decrypt` works for both schemes (one engine)."""
import json
import os

import numpy as np
import pytest
from PIL import Image

from ric.cli import main
from ric.errors import ContainerError
from ric.schemes import container

N = 5
SCHEMES = ("paper", "sealed")


def gradient(seed: int, size: int = 24) -> np.ndarray:
    """A smooth image: it fits a sealed ciphertext of its size losslessly."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    a = rng.uniform(0, 1, (3, 2))
    return np.clip(np.stack([a[c, 0] * yy + a[c, 1] * xx for c in range(3)], -1) * 250, 0, 255).astype(np.uint8)


@pytest.fixture
def work(tmp_path, toy_pair, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    os.makedirs("plain/sub")
    for i in range(N):
        Image.fromarray(gradient(i)).save(f"plain/im{i}.png")
    Image.fromarray(gradient(9)).save("plain/sub/deeper.png")      # not entered: named in a warning
    assert main(["keygen", "k.key"]) == 0
    return ["--model", toy_pair["model"], "--classifier", toy_pair["classifier"]]


def enc_args(scheme, models):
    """The sealed scheme takes the classifier only (--model is the paper scheme's option)."""
    return [*(models if scheme == "paper" else models[2:]), "--scheme", scheme, "--margin", "1", "-q"]


def json_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_folder_in_windows_then_decrypt_folder(work, capsys, scheme):
    assert main(["encrypt", "--scheme", "paper", "--key", "k.key", "--out", "enc", "plain", "--window", "2", "--json",
                 *enc_args(scheme, work)]) == 0
    out = capsys.readouterr()
    rows = json_lines(out.out)
    assert sorted(r["file"] for r in rows) == [f"plain/im{i}.png" for i in range(N)]
    assert all(r["class"] in ("a", "b", "c") and not r["skipped"] for r in rows)
    assert "plain/sub: a sub-folder, not entered" in out.err
    assert {container.read(f"enc/im{i}.png").scheme for i in range(N)} == {scheme}
    assert main(["decrypt", "--key", "k.key", "--out", "dec", "enc", "--window", "3", "-q", *work]) == 0
    for i in range(N):
        got = np.asarray(Image.open(f"dec/im{i}.png").convert("RGB"))
        assert got.shape == (24, 24, 3)
        if scheme == "sealed":
            assert np.array_equal(got, gradient(i))                   # bit-exact


@pytest.mark.parametrize("scheme", SCHEMES)
def test_resume_skips_what_is_complete_for_either_scheme(work, capsys, scheme):
    args = enc_args(scheme, work)
    assert main(["encrypt", "--scheme", "paper",
                 "--key", "k.key", "--out", "enc", "plain/im0.png", "plain/im1.png", *args]) == 0
    before = {n: open(f"enc/{n}", "rb").read() for n in os.listdir("enc")}
    capsys.readouterr()
    assert main(["encrypt", "--scheme", "paper",
                 "--key", "k.key", "--out", "enc", "plain", "--resume", "--json", *args]) == 0
    rows = {r["file"]: r for r in json_lines(capsys.readouterr().out)}
    assert [rows[f"plain/im{i}.png"]["skipped"] for i in range(N)] == [True, True] + [False] * (N - 2)
    assert all(open(f"enc/{n}", "rb").read() == b for n, b in before.items())      # untouched
    other = "sealed" if scheme == "paper" else "paper"                 # outputs of the other scheme: not complete
    assert main(["encrypt", "--scheme", "paper",
                 "--key", "k.key", "--out", "enc", "plain", "--resume", *enc_args(other, work)]) == 13


@pytest.mark.parametrize("scheme", SCHEMES)
def test_torchrun_ranks_share_the_files_disjointly(work, monkeypatch, capsys, scheme):
    done = []
    for rank in range(2):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        assert main(["encrypt", "--scheme", "paper",
                     "--key", "k.key", "--out", "enc", "plain", "--json", *enc_args(scheme, work)]) == 0
        done.append({r["file"] for r in json_lines(capsys.readouterr().out)})
    assert not done[0] & done[1] and done[0] | done[1] == {f"plain/im{i}.png" for i in range(N)}
    assert sorted(os.listdir("enc")) == [f"im{i}.png" for i in range(N)]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_a_bad_file_among_good_ones(work, capsys, scheme):
    with open("plain/junk.png", "wb") as f:
        f.write(b"not an image")
    code = main(["encrypt", "--scheme", "paper", "--key", "k.key", "--out", "enc", "plain", *enc_args(scheme, work)])
    err = capsys.readouterr().err
    assert code == 4 and "ric: error: plain/junk.png" in err
    assert sorted(os.listdir("enc")) == [f"im{i}.png" for i in range(N)]
    os.remove("plain/junk.png")
    with open("enc/junk.png", "wb") as f:
        f.write(b"not a png")
    code = main(["decrypt", "--key", "k.key", "--out", "dec", "enc", "-q", *work])
    assert code == ContainerError.exit_code and sorted(os.listdir("dec")) == [f"im{i}.png" for i in range(N)]


def test_decrypt_prints_the_same_columns_for_both_schemes(work, capsys):
    for scheme in SCHEMES:
        assert main(["encrypt", "--scheme", "paper", "--key", "k.key", "--out", f"enc-{scheme}", "plain/im0.png",
                     *enc_args(scheme, work)]) == 0
    capsys.readouterr()
    assert main(["decrypt", "--key", "k.key", "--out", "dec", "enc-paper/im0.png", "-q", *work]) == 0
    assert main(["decrypt", "--key", "k.key", "--out", "dec2", "enc-sealed/im0.png", "-q", *work]) == 0
    paper, sealed = capsys.readouterr().out.splitlines()
    assert len(paper.split("\t")) == len(sealed.split("\t")) == 4
    assert sealed.split("\t")[2:] == ["-", "-"]          # the sealed scheme stores no label
    assert paper.split("\t")[3] in ("a", "b", "c")
