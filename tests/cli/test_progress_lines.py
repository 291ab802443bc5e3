"""`ric encrypt` / `ric decrypt` whose stderr is not a terminal (a log) print a progress line now and then instead
of a bar (ric.files.progress.LineProgress); -q prints none. The progress clock is replaced by one that reads the
images done (40 s each), so the lines are a known answer with no sleeping."""
import re

import numpy as np
import pytest
from PIL import Image

from ric.cli import main
from ric.files import engine, progress


@pytest.fixture
def plain(tmp_path):
    paths = []
    for i in range(3):
        p = tmp_path / "plain" / f"im{i}.png"
        p.parent.mkdir(exist_ok=True)
        Image.fromarray(np.full((32, 32, 3), 60 * i + 30, np.uint8)).save(p)     # flat: fits a sealed one
        paths.append(str(p))
    return paths


@pytest.fixture
def forty_seconds_an_image(monkeypatch):
    """LineProgress whose clock says 40 s have passed per image done."""
    def make(total, desc, **kw):
        p = progress.LineProgress(total, desc, **{**kw, "clock": lambda: 1000.0})
        p.clock = lambda: 1000.0 + 40 * p.n
        return p
    monkeypatch.setattr(engine, "LineProgress", make)


def _progress_lines(err: str, kind: str) -> list[str]:
    return [ln for ln in err.splitlines() if ln.startswith(f"{kind} (sealed): ")]


def test_encrypt_and_decrypt_print_progress_lines_to_a_log(plain, tmp_path, toy_pair, capsys, forty_seconds_an_image):
    key, enc, dec = str(tmp_path / "k.key"), str(tmp_path / "enc"), str(tmp_path / "dec")
    assert main(["keygen", key]) == 0
    capsys.readouterr()
    assert main(["encrypt", "--scheme", "sealed", "--cpu", "--key", key, "--out", enc, "--classifier",
                 toy_pair["classifier"], *plain]) == 0
    lines = _progress_lines(capsys.readouterr().err, "encrypt")
    assert lines and lines[-1] == "encrypt (sealed): 3/3 images (100%), 120 s"
    assert all(re.fullmatch(r"encrypt \(sealed\): [123]/3 images \((33|66|100)%\), (40|80|120) s", ln) for ln in lines)
    assert main(["decrypt", "--cpu", "--key", key, "--out", dec, enc]) == 0
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("decrypt")]
    assert lines and re.fullmatch(r"decrypt.*: 3/3 images \(100%\), 120 s", lines[-1]), lines


def test_quiet_prints_no_progress_line(plain, tmp_path, toy_pair, capsys, forty_seconds_an_image):
    key = str(tmp_path / "k.key")
    assert main(["keygen", key]) == 0
    capsys.readouterr()
    assert main(["encrypt", "-q", "--scheme", "sealed", "--cpu", "--key", key, "--out", str(tmp_path / "enc"),
                 "--classifier", toy_pair["classifier"], *plain]) == 0
    assert "images (" not in capsys.readouterr().err
