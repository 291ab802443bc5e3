"""Streaming folders: windows, resume (skip complete outputs, never overwrite anything else), torchrun sharding."""
import json
import os

import numpy as np
import pytest
from PIL import Image

from ric.cli import main
from ric.errors import OutputExistsError
from ric.files import stream

N = 7


@pytest.fixture
def work(tmp_path, toy_args, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    rng = np.random.default_rng(0)
    os.makedirs("plain")
    for i in range(N):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(f"plain/im{i}.png")
    with open("plain/notes.txt", "w") as f:       # not an image: a folder listing skips it
        f.write("not an image")
    assert main(["keygen", "k.key"]) == 0
    assert main(["keygen", "k2.key"]) == 0
    return toy_args


def _names(d):
    return sorted(os.listdir(d))


def _bytes(d):
    return {n: open(os.path.join(d, n), "rb").read() for n in _names(d)}


def test_folder_roundtrip_in_small_windows(work, capsys):
    assert main(["encrypt", "--scheme", "paper",
                 "--key", "k.key", "--out", "enc", "plain", "--window", "2", "--json", *work]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == N and {r["file"] for r in rows} == {f"plain/im{i}.png" for i in range(N)}
    assert _names("enc") == [f"im{i}.png" for i in range(N)]
    assert main(["decrypt", "--key", "k.key", "--out", "dec", "enc", "--window", "3", *work]) == 0
    assert _names("dec") == [f"im{i}.png" for i in range(N)]
    # the folder path gives the same recovered images as the file-list path
    assert main(["decrypt", "--key", "k.key", "--out", "dec2", *work, *[f"enc/im{i}.png" for i in range(N)]]) == 0
    assert _bytes("dec") == _bytes("dec2")


class _CountingScheme:
    """Records how many images each encrypt call gets; writes nothing (and needs no memory)."""
    name, classes, stats, device, keeps_mode = "fake", [], {}, "cpu", False

    def __init__(self, seen: list):
        self.seen = seen

    def peak_bytes(self, h, w, n):
        return 0

    def encrypt(self, images, key, progress=None, originals=None):
        from ric.errors import RICError
        from ric.schemes.base import Outcome
        self.seen.append(len(images))
        return [Outcome(error=RICError("not written")) for _ in images]


def test_engine_only_ever_sees_one_window(work, monkeypatch):
    from ric.files.engine import FileEngine
    seen = []
    res = list(FileEngine(window=3, show_progress=False).encrypt(_CountingScheme(seen), None, ["plain"], "enc"))
    assert seen == [3, 3, 1] and len(res) == 7 and all(r.error is not None for r in res)
    assert isinstance(stream.iter_folder("plain"), type(x for x in ()))   # lazy listing, not a list


def test_the_bar_is_redrawn_while_one_window_runs(work, monkeypatch):
    """One long encrypt call (a 12-MP photo's Φ) still moves the bar's clock: the fake scheme returns only after
    the bar has been redrawn three times (an event, not a clock); without a bar no redraw thread runs."""
    import threading

    from ric.files import engine as eng
    from ric.files import progress as prog
    monkeypatch.setattr(prog, "BEAT_SECONDS", 0.001)
    redraws, three, given = [], threading.Event(), []

    def recording(refresh):
        given.append(refresh)

        def counted():
            refresh()
            redraws.append(1)
            if len(redraws) == 3:
                three.set()
        return prog.heartbeat(None if refresh is None else counted)

    monkeypatch.setattr(eng, "heartbeat", recording)

    class Slow(_CountingScheme):
        def encrypt(self, images, key, progress=None, originals=None):
            assert three.wait(timeout=120)      # a bound against a hang only
            return super().encrypt(images, key, progress)

    res = list(eng.FileEngine(window=8, show_progress=True).encrypt(Slow([]), None, ["plain"], "enc"))
    assert len(res) == N and len(redraws) >= 3
    list(eng.FileEngine(window=8, show_progress=False).encrypt(_CountingScheme([]), None, ["plain"], "enc"))
    assert given[-1] is None


def test_windows_of_large_images_are_cut_by_pixels(work):
    """A window of photos is not decoded all at once: runs of at most window_pixels (headers say the size)."""
    from ric.files.engine import FileEngine
    seen = []
    res = list(FileEngine(window=5, window_pixels=3 * 256, show_progress=False).encrypt(_CountingScheme(seen), None,
                                                                                      ["plain"], "enc"))
    assert seen == [3, 2, 2] and len(res) == N          # 16x16 = 256 pixels each: 3 a run, window 5 cut 3 + 2


def test_by_pixels_known_answer(tmp_path):
    sizes = {"a": 10, "b": 10, "c": 25, "d": 1, "e": 0, "f": 9}
    runs = list(stream.by_pixels(list(sizes), 20, sizes.get))
    assert runs == [["a", "b"], ["c"], ["d", "e", "f"]]     # a too-large image stands alone, nothing is dropped
    Image.new("RGB", (40, 30)).save(tmp_path / "x.png")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    assert stream.pixels_of(str(tmp_path / "x.png")) == 1200 and stream.pixels_of(str(tmp_path / "bad.png")) == 0


def test_resume_skips_complete_outputs_and_keeps_their_bytes(work, capsys):
    assert main(["encrypt", "--scheme", "paper",
                 "--key", "k.key", "--out", "enc", "plain/im0.png", "plain/im1.png", *work]) == 0
    before = _bytes("enc")
    capsys.readouterr()
    assert main(["encrypt", "--scheme", "paper",
                 "--key", "k.key", "--out", "enc", "plain", "--resume", "--json", *work]) == 0
    rows = {json.loads(line)["file"]: json.loads(line) for line in capsys.readouterr().out.splitlines()}
    assert rows["plain/im0.png"]["skipped"] and rows["plain/im1.png"]["skipped"]
    assert not any(rows[f"plain/im{i}.png"]["skipped"] for i in range(2, N))
    assert _names("enc") == [f"im{i}.png" for i in range(N)]
    assert all(_bytes("enc")[n] == b for n, b in before.items())     # never rewritten
    # and again: everything is complete now, nothing is written
    after = _bytes("enc")
    assert main(["encrypt", "--scheme", "paper", "--key", "k.key", "--out", "enc", "plain", "--resume", *work]) == 0
    assert _bytes("enc") == after


def test_resume_never_overwrites_what_is_not_a_complete_output(work, capsys):
    os.makedirs("enc")
    with open("enc/im0.png", "wb") as f:
        f.write(b"precious")                             # a foreign file
    assert main(["encrypt", "--scheme", "paper", "--key", "k2.key", "--out", "enc", "plain/im1.png", *work]) == 0
    other_key = open("enc/im1.png", "rb").read()        # a ciphertext under another key
    capsys.readouterr()
    code = main(["encrypt", "--scheme", "paper", "--key", "k.key", "--out", "enc", "plain", "--resume", *work])
    err = capsys.readouterr().err
    assert code == OutputExistsError.exit_code
    assert "enc/im0.png exists but is not a complete output" in err and "enc/im1.png exists" in err
    warning, *errors = err.strip().splitlines()[::-1]     # the listing's warning comes last
    assert warning == "ric: warning: skipped 1 file that is not an image file (by its extension): plain/notes.txt"
    assert all(line.startswith("ric: error: ") for line in errors)
    assert open("enc/im0.png", "rb").read() == b"precious"
    assert open("enc/im1.png", "rb").read() == other_key
    assert _names("enc") == [f"im{i}.png" for i in range(N)]            # the others went through


def test_decrypt_resume(work, capsys):
    assert main(["encrypt", "--scheme", "paper", "--key", "k.key", "--out", "enc", "plain", *work]) == 0
    assert main(["decrypt", "--key", "k.key", "--out", "dec", "enc/im3.png", *work]) == 0
    first = open("dec/im3.png", "rb").read()
    with open("dec/im4.png", "wb") as f:
        f.write(b"half")                                 # not a readable image: refused, kept
    capsys.readouterr()
    code = main(["decrypt", "--key", "k.key", "--out", "dec", "enc", "--resume", "--json", *work])
    out, err = capsys.readouterr()
    assert code == OutputExistsError.exit_code and "dec/im4.png exists but is not a complete output" in err
    rows = {json.loads(line)["file"]: json.loads(line) for line in out.splitlines()}
    assert rows["enc/im3.png"]["skipped"] and not rows["enc/im0.png"]["skipped"]
    assert open("dec/im3.png", "rb").read() == first and open("dec/im4.png", "rb").read() == b"half"
    assert _names("dec") == [f"im{i}.png" for i in range(N)]


def test_shards_are_disjoint_and_cover_everything():
    paths = [f"d/x{i}.png" for i in range(200)] + ["e/x7.jpg"]
    shards = [list(stream.shard(paths, r, 3)) for r in range(3)]
    assert sorted(sum(shards, [])) == sorted(paths)
    assert all(len(s) > 40 for s in shards)                          # roughly balanced
    assert stream.owner("d/x7.png", 3) == stream.owner("e/x7.jpg", 3)  # colliding outputs meet on one rank


def test_torchrun_environment_splits_the_work(work, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    for rank in ("0", "1"):
        monkeypatch.setenv("RANK", rank)
        assert main(["encrypt", "--scheme", "paper", "--key", "k.key", "--out", f"enc{rank}", "plain", *work]) == 0
    a, b = set(_names("enc0")), set(_names("enc1"))
    assert a and b and not a & b and a | b == {f"im{i}.png" for i in range(N)}


def test_bad_torchrun_environment_is_one_line_error(work, monkeypatch, capsys):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "5")
    assert main(["encrypt", "--scheme", "paper", "--key", "k.key", "--out", "enc", "plain", *work]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ric: error: RANK=5")


def test_collisions_are_caught_across_windows(work, capsys):
    Image.open("plain/im0.png").save("plain/im0.bmp")
    code = main(["encrypt", "--scheme", "paper",
                 "--key", "k.key", "--out", "enc", "plain", "--window", "1", "--resume", *work])
    err = capsys.readouterr().err
    assert code == OutputExistsError.exit_code and "would collide" in err
    assert len([ln for ln in err.splitlines() if ln.startswith("ric: error:")]) == 1
    assert _names("enc") == [f"im{i}.png" for i in range(N)]
