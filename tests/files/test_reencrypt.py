"""`ric reencrypt`: ciphertexts of the older formats into the current one, in memory, never touching the originals.
The golden ciphertexts of ric/1-ric/3 (with their exact n_adv chunk, so they decrypt on any CPU) and ric/4 go in;
sealed/2 (or ric/4) ciphertexts come out that decrypt to exactly what the originals decrypt to."""
import hashlib
import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from ric.cli import main
from ric.schemes import container

GOLDEN = os.path.join(os.path.dirname(__file__), "..", "fixtures", "golden")
OLD = ["paper/ric1_none_cat_03897.png", "paper/ric2_scramble_ship_08055.png", "paper/ric3_mask_cat_03897.png",
       "paper_v4/ric4_mask_frog_06833.png"]


def _pixels(path: str) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def _sha(paths) -> list[str]:
    return [hashlib.sha256(open(p, "rb").read()).hexdigest() for p in paths]


@pytest.fixture
def old(tmp_path, monkeypatch):
    """The old ciphertexts copied into old/, and the golden key (the same for every golden folder) as k.key."""
    monkeypatch.chdir(tmp_path)
    os.makedirs("old")
    for rel in OLD:
        shutil.copy(os.path.join(GOLDEN, rel), "old")
    shutil.copy(os.path.join(GOLDEN, "paper", "golden.key"), "k.key")
    os.chmod("k.key", 0o600)
    return sorted(os.path.join("old", os.path.basename(r)) for r in OLD)


def test_old_formats_become_sealed_and_decrypt_to_the_same_pixels(old, capsys):
    before = _sha(old)
    assert main(["decrypt", "--key", "k.key", "--out", "direct", "-q", *old]) == 0
    capsys.readouterr()
    assert main(["reencrypt", "--key", "k.key", "--out", "up", "--json", *old]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["out"] for r in rows] == [os.path.join("up", os.path.basename(p)) for p in old]
    assert {container.read(r["out"]).scheme for r in rows} == {"sealed"}
    assert main(["decrypt", "--key", "k.key", "--out", "again", "-q", "up"]) == 0
    for p in old:
        n = os.path.basename(p)
        assert np.array_equal(_pixels(os.path.join("again", n)), _pixels(os.path.join("direct", n))), n
    assert _sha(old) == before                                    # the originals are untouched


def test_resume_skips_what_is_done_and_nothing_is_overwritten(old, capsys):
    assert main(["reencrypt", "--key", "k.key", "--out", "up", "-q", *old[:2]]) == 0
    done = _sha([os.path.join("up", os.path.basename(p)) for p in old[:2]])
    capsys.readouterr()
    assert main(["reencrypt", "--key", "k.key", "--out", "up", "--resume", *old]) == 0
    assert "re-encrypted 2, skipped 2 already complete, failed 0" in capsys.readouterr().err
    outs = [os.path.join("up", os.path.basename(p)) for p in old]
    assert _sha(outs[:2]) == done
    now = _sha(outs)
    assert main(["reencrypt", "--key", "k.key", "--out", "up", "-q", *old]) == 13       # every output exists
    assert _sha(outs) == now


def test_an_output_never_replaces_an_original(old, capsys):
    before = _sha(old)
    assert main(["reencrypt", "--key", "k.key", "--out", "old", "--force", "-q", *old]) == 13
    assert "output would overwrite the input itself" in capsys.readouterr().err
    assert _sha(old) == before


def test_a_wrong_key_keeps_its_code_and_writes_nothing(old, capsys):
    assert main(["keygen", "other.key"]) == 0
    capsys.readouterr()
    assert main(["reencrypt", "--key", "other.key", "--out", "up", "-q", *old]) == 6
    assert not os.path.exists("up") or os.listdir("up") == []


def test_a_new_key_and_the_paper_scheme(old, capsys):
    assert main(["keygen", "new.key"]) == 0
    assert main(["reencrypt", "--key", "k.key", "--new-key", "new.key", "--scheme", "paper", "--out", "up", "-q",
                 old[0]]) == 0
    out = os.path.join("up", os.path.basename(old[0]))
    assert container.read(out).header.format == "ric/4"
    capsys.readouterr()
    assert main(["decrypt", "--key", "k.key", "--out", "d1", "-q", out]) == 6
    assert main(["decrypt", "--key", "new.key", "--out", "d2", "-q", out]) == 0


def test_the_target_is_made_for_the_classifier_the_ciphertext_names(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    shutil.copy(os.path.join(GOLDEN, "paper_v4", "golden.key"), "k.key")
    os.chmod("k.key", 0o600)
    face = os.path.join(GOLDEN, "paper_v4", "ric4_celeba64_dog_05775.png")
    assert main(["reencrypt", "--key", "k.key", "--out", "up", "--json", face]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert row["class"].startswith("celeba_identity_")          # celeba64's label, not cifar10's
