"""ric.files.memory: images that would not fit in memory are refused up front (one line, exit 15), batches are cut
to what fits, and nothing about the bits changes."""
import numpy as np
from PIL import Image

from ric.cli import main
from ric.errors import OutOfMemory, RICError
from ric.files import engine as engine_mod
from ric.files.engine import FileEngine
from ric.files.memory import images_that_fit
from ric.schemes.base import Outcome


class Fake:
    """A scheme whose estimate is 100 bytes + 1 byte per pixel per image; it records its batch sizes."""
    name, classes, stats, device, keeps_mode = "fake", [], {}, "cpu", False

    def __init__(self):
        self.batches = []

    def peak_bytes(self, h, w, n):
        return 100 + h * w * n

    def encrypt(self, images, key, progress=None, originals=None):
        self.batches.append(len(images))
        return [Outcome(error=RICError("not written")) for _ in images]


def test_images_that_fit_known_answers():
    s = Fake()
    assert images_that_fit(s, 10, 10, 8, 100 + 100 * 3) == 3
    assert images_that_fit(s, 10, 10, 8, 99) == 0
    assert images_that_fit(s, 10, 10, 8, None) == 8          # unknown limit: nothing refused


def test_batches_are_cut_to_what_fits_and_a_too_large_image_is_refused(tmp_path):
    for i in range(5):
        Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(tmp_path / f"s{i}.png")
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(tmp_path / "big.png")
    s = Fake()
    res = list(FileEngine(show_progress=False, memory_limit=100 + 100 * 2).encrypt(
        s, None, [str(tmp_path / f"s{i}.png") for i in range(5)] + [str(tmp_path / "big.png")], str(tmp_path / "o")))
    assert sorted(s.batches) == [1, 2, 2]                     # 5 small images, at most 2 at a time
    big = res[-1].error
    assert isinstance(big, OutOfMemory) and big.exit_code == 15 and "a 40x40 image needs about" in str(big)


def test_the_cli_refuses_a_photo_too_large_for_this_machine(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(engine_mod, "available_bytes", lambda device="cpu": 1 << 30)      # a 1 GiB machine
    Image.fromarray(np.zeros((1024, 1024, 3), np.uint8)).save("photo.png")
    assert main(["keygen", "k.key"]) == 0
    code = main(["encrypt", "--scheme", "paper", "--key", "k.key", "--out", "enc", "photo.png", "-q", "--cpu"])
    err = capsys.readouterr().err.strip()
    assert code == OutOfMemory.exit_code and len(err.splitlines()) == 1
    assert err.startswith("ric: error: photo.png: a 1024x1024 image needs about") and "GiB" in err
    assert not (tmp_path / "enc" / "photo.png").exists()


def test_a_regenerating_decryption_too_large_for_this_machine_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save("photo.png")
    assert main(["keygen", "k.key"]) == 0
    from legacy_support import encrypt_legacy
    encrypt_legacy("k.key", ["photo.png"], "enc")
    assert main(["encrypt", "--scheme", "paper", "--key", "k.key", "--out", "fast", "photo.png", "-q", "--cpu"]) == 0
    monkeypatch.setattr(engine_mod, "available_bytes", lambda device="cpu": 305 << 20)  # less than Φ at 64x64 needs
    capsys.readouterr()
    assert main(["decrypt", "--key", "k.key", "--out", "dec", "enc/photo.png", "-q", "--cpu"]) == 15
    assert "needs about" in capsys.readouterr().err and not (tmp_path / "dec" / "photo.png").exists()
    assert main(["decrypt", "--key", "k.key", "--out", "dec", "fast/photo.png", "-q", "--cpu"]) == 0  # no Φ: fits
