"""Golden ciphertexts of every paper format, committed: ric/1 and ric/2 made by the code of commit 8a64723 (the last
writer of ric/2 as its default), ric/3 by commit ddaa7c7, and ric/3 with Φ on channels-last memory by commit 1bc9941
(tests/fixtures/golden/paper/manifest.json). Today's code
must decrypt them, to the pixels that code recovered. They carry the n_adv chunk
(fast decryption), so the check does not depend on Φ regenerating the same bits on this CPU."""
import json
import os
import shutil

import numpy as np
import pytest
from image_support import psnr_u8
from PIL import Image

from ric.cli import main
from ric.schemes import container

GOLDEN = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "golden", "paper")
MANIFEST = json.load(open(os.path.join(GOLDEN, "manifest.json")))
SAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "src", "ric", "samples")


@pytest.mark.parametrize("entry", MANIFEST["files"], ids=[e["ciphertext"] for e in MANIFEST["files"]])
def test_old_formats_still_decrypt(entry, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(os.path.join(GOLDEN, MANIFEST["key"]), "k.key")
    os.chmod("k.key", 0o600)             # git does not keep the 0600 mode of the committed key file
    ct = os.path.join(GOLDEN, entry["ciphertext"])
    pixels, header = container.read_ciphertext(ct)
    assert (header.format, header.mix) == (entry["format"], entry["mix"])
    assert header.phi.get("memory", "contiguous") == entry.get("phi_memory", "contiguous")   # older: none recorded
    assert main(["decrypt", "--key", "k.key", "--out", "dec", "--quiet", ct]) == 0
    out = os.path.join("dec", entry["ciphertext"])
    assert os.stat(out).st_mode & 0o777 == 0o600          # recovered plaintexts are private
    got = np.asarray(Image.open(out).convert("RGB"))
    then = np.asarray(Image.open(os.path.join(GOLDEN, entry["recovered"])).convert("RGB"))
    assert np.abs(got.astype(int) - then.astype(int)).max() <= 1     # D's float arithmetic, nothing more
    plain = np.asarray(Image.open(os.path.join(SAMPLES, entry["plaintext"])).convert("RGB"))
    assert psnr_u8(got, plain) > 40


def test_golden_key_is_refused_by_another_key(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["keygen", "other.key"]) == 0
    ct = os.path.join(GOLDEN, MANIFEST["files"][0]["ciphertext"])
    assert main(["decrypt", "--key", "other.key", "--out", "dec", "--quiet", ct]) == 6
    assert not os.path.exists(os.path.join("dec", MANIFEST["files"][0]["ciphertext"]))
